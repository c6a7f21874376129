//! `pool`: the partner's voucher quota, how many vouchers it has issued, its
//! name and its role, from QueryVoucherPool (one call).

use crate::api::actions::{Empty, QueryVoucherPool};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit, no_labels};
use crate::refresh::{Collected, Collector, Context, Error};
use crate::snapshot::PoolSnapshot;
use std::borrow::Cow;
use std::time::Duration;

/// What the pool collector exports: one series each, with the account label.
pub const METRICS: Table<PoolSnapshot, ()> = Table {
    whole: &[
        Metric {
            name: "voucher_pool",
            help: "Voucher quota of the partner in USD",
            unit: Unit::Usd,
            labels: no_labels,
            value: |p| p.total,
        },
        Metric {
            name: "voucher_pool_remaining",
            help: "Voucher quota the partner has left to issue in USD",
            unit: Unit::Usd,
            labels: no_labels,
            value: |p| p.remaining,
        },
        Metric {
            name: "vouchers_issued",
            help: "Number of vouchers the partner has issued",
            unit: Unit::None,
            labels: no_labels,
            value: |p| p.issued.map(|n| n as f64),
        },
        Metric {
            name: "info",
            help: "The partner's name and role (reseller, distributor or second_level_reseller), value 1",
            unit: Unit::None,
            labels: info,
            value: |p| p.role.is_some().then_some(1.0),
        },
    ],
    rows: |_| &[],
    each: &[],
};

fn info(p: &PoolSnapshot, _: Options) -> Labels<'_> {
    vec![
        ("agent_name", Cow::Borrowed(p.agent_name.as_str())),
        ("role", Cow::Borrowed(p.role.as_deref().unwrap_or_default())),
    ]
}

/// The role of `AccountType`: 1 reseller, 2 distributor, 3 second-level
/// reseller; another number as itself.
pub fn role(account_type: i64) -> String {
    match account_type {
        1 => "reseller".into(),
        2 => "distributor".into(),
        3 => "second_level_reseller".into(),
        other => other.to_string(),
    }
}

/// Refreshes [`PoolSnapshot`] with one call.
#[derive(Debug, Default)]
pub struct Pool;

impl Collector for Pool {
    type Rows = PoolSnapshot;
    type Row = ();
    const METRICS: Table<PoolSnapshot, ()> = METRICS;
    const ABOUT: &'static str = "the partner's voucher quota and role";
    const INTERVAL: Duration = Duration::from_secs(5 * 60);

    fn start(_: Option<&PoolSnapshot>) -> Self {
        Pool
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<PoolSnapshot, Error> {
        let pool = ctx.call::<QueryVoucherPool>(&Empty {}).await?;
        Ok(PoolSnapshot {
            agent_name: pool.agent_name.unwrap_or_default(),
            role: pool.account_type.map(role),
            total: pool.total_quota,
            remaining: pool.remaining_quota,
            issued: pool.issued_num,
        })
    }
}

impl Collected for PoolSnapshot {
    type By = Pool;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_the_quota_the_vouchers_issued_and_the_role() {
        let snapshot = PoolSnapshot {
            agent_name: "Partner \"East\" Ltd".into(),
            role: Some(role(2)),
            total: Some(100_000.0),
            remaining: Some(2_500.5),
            issued: Some(37),
        };
        let text = exposition(&METRICS, &snapshot, "pool");
        for line in [
            "tencentcloud_partner_voucher_pool_usd{account=\"a\"} 100000.0\n",
            "tencentcloud_partner_voucher_pool_remaining_usd{account=\"a\"} 2500.5\n",
            "tencentcloud_partner_vouchers_issued{account=\"a\"} 37.0\n",
            "tencentcloud_partner_info{account=\"a\",agent_name=\"Partner \\\"East\\\" Ltd\",role=\"distributor\"} 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn what_the_api_left_out_is_not_exported() {
        let text = exposition(&METRICS, &PoolSnapshot::default(), "pool");
        assert!(!text.contains("tencentcloud_partner_voucher_pool"), "{text}");
        assert!(!text.contains("tencentcloud_partner_info{"), "{text}");
        assert_eq!(role(3), "second_level_reseller");
        assert_eq!(role(1), "reseller");
        assert_eq!(role(9), "9");
    }
}
