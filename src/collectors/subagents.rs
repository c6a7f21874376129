//! `subagents`: a distributor's second-level resellers, with their credit and
//! voucher pools, from every page of QuerySubAgentsDetailV2. It reads them
//! only when the account is a distributor, as QueryVoucherPool says (the pool
//! collector's last answer, or its own call when there is none). For another
//! role, or when the key may not read them (`UnauthorizedOperation*`), it
//! publishes an empty snapshot marked not applicable, which counts as a
//! success, and says so once in the log.

use crate::api::Action;
use crate::api::actions::{Empty, QuerySubAgentsDetailV2, QueryVoucherPool, SubAgentsRequest};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::refresh::{Collected, Collector, Context, Error, Page, walk};
use crate::snapshot::{PoolSnapshot, Rows, SubagentRow, SubagentsSnapshot};
use std::borrow::Cow;
use std::time::Duration;

/// What the subagents collector exports, per second-level reseller.
pub const METRICS: Table<SubagentsSnapshot, SubagentRow> = Table {
    whole: &[],
    rows: |s| &s.rows,
    each: &[
        usd(
            "subagent_credit",
            "Credit pool of the second-level reseller in USD",
            |r| r.credit,
        ),
        usd(
            "subagent_credit_remaining",
            "Credit the second-level reseller has left in USD",
            |r| r.credit_remaining,
        ),
        usd(
            "subagent_voucher_pool",
            "Voucher quota pool of the second-level reseller in USD",
            |r| r.voucher_pool,
        ),
        usd(
            "subagent_voucher_pool_remaining",
            "Voucher quota the second-level reseller has left in USD",
            |r| r.voucher_pool_remaining,
        ),
        Metric {
            name: "subagent_customers",
            help: "Number of customers of the second-level reseller",
            unit: Unit::None,
            labels: subagent,
            value: |r| r.customers.map(|n| n as f64),
        },
        Metric {
            name: "subagent_info",
            help: "Remark (and name, with --customer.export-names) of the second-level reseller, value 1",
            unit: Unit::None,
            labels: subagent_info,
            value: |_| Some(1.0),
        },
    ],
};

const fn usd(name: &'static str, help: &'static str, value: fn(&SubagentRow) -> Option<f64>) -> Metric<SubagentRow> {
    Metric {
        name,
        help,
        unit: Unit::Usd,
        labels: subagent,
        value,
    }
}

fn subagent(r: &SubagentRow, _: Options) -> Labels<'_> {
    vec![("subagent_uin", Cow::Owned(r.uin.to_string()))]
}

/// The name only with `--customer.export-names`; never the e-mail or mobile.
fn subagent_info(r: &SubagentRow, options: Options) -> Labels<'_> {
    let mut labels = subagent(r, options);
    labels.push(("remark", Cow::Borrowed(r.remark.as_str())));
    if options.export_names {
        labels.push(("name", Cow::Borrowed(r.name.as_str())));
    }
    labels
}

/// Second-level resellers per page (the documented maximum).
const PAGE_SIZE: u64 = 100;

/// Refreshes [`SubagentsSnapshot`].
#[derive(Debug, Default)]
pub struct Subagents {
    /// Why the last refresh found nothing to read, once said in the log.
    said: Option<String>,
}

impl Collector for Subagents {
    type Rows = SubagentsSnapshot;
    type Row = SubagentRow;
    const METRICS: Table<SubagentsSnapshot, SubagentRow> = METRICS;
    const ABOUT: &'static str = "a distributor's second-level resellers";
    const INTERVAL: Duration = Duration::from_secs(5 * 60);

    fn start(_: Option<&SubagentsSnapshot>) -> Self {
        Self::default()
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<SubagentsSnapshot, Error> {
        let role = match ctx.served::<PoolSnapshot>() {
            Some(pool) => PoolSnapshot::of(&pool.snapshot).and_then(|p| p.role.clone()),
            None => ctx
                .call::<QueryVoucherPool>(&Empty {})
                .await?
                .account_type
                .map(super::pool::role),
        };
        if role.as_deref() != Some("distributor") {
            let role = role.unwrap_or_else(|| "unknown".into());
            self.say_once(format!("the account's role is {role}, not distributor"), false);
            return Ok(SubagentsSnapshot::default());
        }
        match list(ctx).await {
            Ok(rows) => {
                self.said = None;
                Ok(SubagentsSnapshot { applicable: true, rows })
            }
            Err(Error::Api(error)) if error.code().starts_with("UnauthorizedOperation") => {
                self.say_once(format!("the key may not read them ({})", error.code()), true);
                Ok(SubagentsSnapshot::default())
            }
            Err(error) => Err(error),
        }
    }
}

impl Subagents {
    /// Logs why there are no second-level resellers to export, once per reason.
    fn say_once(&mut self, reason: String, warn: bool) {
        if self.said.as_deref() == Some(reason.as_str()) {
            return;
        }
        if warn {
            tracing::warn!(collector = "subagents", %reason, "no second-level resellers to export");
        } else {
            tracing::info!(collector = "subagents", %reason, "no second-level resellers to export");
        }
        self.said = Some(reason);
    }
}

impl Collected for SubagentsSnapshot {
    type By = Subagents;
}

async fn list(ctx: &Context) -> Result<Vec<SubagentRow>, Error> {
    let served = ctx.served::<SubagentsSnapshot>();
    let known = served
        .as_deref()
        .and_then(|p| SubagentsSnapshot::of(&p.snapshot))
        .map_or(0, |s| s.rows.len());
    drop(served);
    let mut rows = walk(
        ctx,
        QuerySubAgentsDetailV2::NAME,
        PAGE_SIZE,
        known,
        |row: &SubagentRow| row.uin,
        |page, page_size| async move {
            let answer = ctx
                .call::<QuerySubAgentsDetailV2>(&SubAgentsRequest { page, page_size })
                .await?;
            Ok(Page::of(answer.total, answer.data, |a| {
                Some(SubagentRow {
                    uin: a.sub_agent_uin?,
                    name: a.name.unwrap_or_default(),
                    remark: a.remark.unwrap_or_default(),
                    customers: a.count_of_customers,
                    credit: a.credit,
                    credit_remaining: a.remaining_credit,
                    voucher_pool: a.voucher,
                    voucher_pool_remaining: a.remaining_voucher,
                })
            }))
        },
    )
    .await?
    .items;
    rows.sort_by_key(|r| r.uin);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::{exposition, exposition_with};

    fn snapshot() -> SubagentsSnapshot {
        SubagentsSnapshot {
            applicable: true,
            rows: vec![
                SubagentRow {
                    uin: 300,
                    name: "east@example.com".into(),
                    remark: "east".into(),
                    customers: Some(12),
                    credit: Some(5_000.0),
                    credit_remaining: Some(250.5),
                    voucher_pool: Some(1_000.0),
                    voucher_pool_remaining: Some(0.0),
                },
                // Every value the API may leave out, left out.
                SubagentRow {
                    uin: 400,
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn exports_each_second_level_resellers_pools() {
        let text = exposition(&METRICS, &snapshot(), "subagents");
        for line in [
            "tencentcloud_partner_subagent_credit_usd{account=\"a\",subagent_uin=\"300\"} 5000.0\n",
            "tencentcloud_partner_subagent_credit_remaining_usd{account=\"a\",subagent_uin=\"300\"} 250.5\n",
            "tencentcloud_partner_subagent_voucher_pool_usd{account=\"a\",subagent_uin=\"300\"} 1000.0\n",
            "tencentcloud_partner_subagent_voucher_pool_remaining_usd{account=\"a\",subagent_uin=\"300\"} 0.0\n",
            "tencentcloud_partner_subagent_customers{account=\"a\",subagent_uin=\"300\"} 12.0\n",
            "tencentcloud_partner_subagent_info{account=\"a\",subagent_uin=\"300\",remark=\"east\"} 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(text.matches("subagent_uin=\"400\"").count(), 1, "only its info: {text}");
        assert!(!text.contains("east@example.com"), "names only when asked for");
    }

    #[test]
    fn names_are_exported_when_asked_for() {
        let options = Options { export_names: true };
        let text = exposition_with(&METRICS, &snapshot(), "subagents", options);
        assert!(
            text.contains("remark=\"east\",name=\"east@example.com\"} 1.0\n"),
            "{text}"
        );
    }

    #[test]
    fn not_applicable_exports_nothing() {
        let text = exposition(&METRICS, &SubagentsSnapshot::default(), "subagents");
        assert!(!text.contains("subagent_uin"), "{text}");
    }
}
