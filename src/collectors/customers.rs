//! `customers`: every customer's credit and descriptive labels, from all pages
//! of QueryCustomersCredit, or only the customers of `--customers.uins`, from
//! QueryCreditByUinList in batches of 50.

use crate::api::Action;
use crate::api::actions::{CreditByUinListRequest, CustomersCreditRequest, QueryCreditByUinList, QueryCustomersCredit};
use crate::metrics::counters::CounterDef;
use crate::metrics::table::{Labels, Metric, Options, Table, Unit, no_labels};
use crate::refresh::batches::read_batches;
use crate::refresh::since::since;
use crate::refresh::sweep::unix_now;
use crate::refresh::{Collected, Collector, Context, Error, Page, Walked, walk, walk_checked};
use crate::snapshot::Rows;
use crate::snapshot::{CustomerRow, CustomersSnapshot};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

/// What the customers collector exports: their number, and each customer's
/// credit and descriptive labels.
pub const METRICS: Table<CustomersSnapshot, CustomerRow> = Table {
    whole: &[Metric {
        name: "customers",
        help: "Number of customers bound to the partner",
        unit: Unit::None,
        labels: no_labels,
        value: |s| Some(s.total as f64),
    }],
    rows: |s| &s.customers,
    each: &[
        Metric {
            name: "customer_credit",
            help: "Credit allocated to the customer in USD",
            unit: Unit::Usd,
            labels: customer,
            value: |c| c.credit,
        },
        Metric {
            name: "customer_credit_remaining",
            help: "Credit the customer has left in USD",
            unit: Unit::Usd,
            labels: customer,
            value: |c| c.remaining,
        },
        Metric {
            name: "customer_credit_expiry_timestamp",
            help: "Unix time of the customer's RecentExpiry, which Tencent's SDK documents as \"Expiration time\"",
            unit: Unit::Seconds,
            labels: customer,
            value: |c| c.expiry,
        },
        Metric {
            name: "customer_force_status",
            help: "The customer's Force, \"Forced status\" in Tencent's SDK: 0 normal, 2 service forcibly suspended",
            unit: Unit::None,
            labels: customer,
            value: |c| c.force.map(|f| f as f64),
        },
        Metric {
            name: "customer_suspended_since_timestamp",
            help: "When the exporter first saw the customer's services forcibly suspended (Force 2), at least since: the API gives no start; absent once lifted",
            unit: Unit::Seconds,
            labels: customer,
            value: |c| c.suspended_since,
        },
        Metric {
            name: "customer_info",
            help: "Descriptive labels of the customer, value 1",
            unit: Unit::None,
            labels: customer_info,
            value: |_| Some(1.0),
        },
    ],
};

fn customer(c: &CustomerRow, _: Options) -> Labels<'_> {
    vec![("customer_uin", Cow::Owned(c.uin.to_string()))]
}

/// The name only with `--customer.export-names`: it is often an e-mail address.
fn customer_info(c: &CustomerRow, options: Options) -> Labels<'_> {
    let mut labels = customer(c, options);
    labels.extend([
        ("remark", Cow::Borrowed(c.remark.as_str())),
        ("customer_type", Cow::Borrowed(c.customer_type.as_str())),
        ("identify_type", Cow::Borrowed(c.identify_type.as_str())),
    ]);
    if options.export_names {
        labels.push(("name", Cow::Borrowed(c.name.as_str())));
    }
    labels
}

/// Customers per QueryCustomersCredit page.
const PAGE_SIZE: u64 = 100;
/// The most UINs QueryCreditByUinList accepts at once.
const UIN_BATCH: usize = 50;
/// QueryCreditByUinList calls at once; the rate limiter paces them.
const CALLS_IN_FLIGHT: usize = 4;

/// Counted when a customer list came back empty or much shorter than the last.
pub static LIST_RECHECKS: CounterDef = CounterDef {
    name: "customer_list_rechecks",
    help: "Customer lists read again before publishing, because one came back empty or under half as long as the \
           last: the second read is published",
};

/// Refreshes [`CustomersSnapshot`].
#[derive(Debug, Default)]
pub struct Customers;

impl Collector for Customers {
    type Rows = CustomersSnapshot;
    type Row = CustomerRow;
    const METRICS: Table<CustomersSnapshot, CustomerRow> = METRICS;
    const ABOUT: &'static str = "the customers' credit";
    const INTERVAL: Duration = Duration::from_secs(5 * 60);
    const COUNTERS: &'static [&'static CounterDef] = &[&LIST_RECHECKS];

    fn start(_: Option<&CustomersSnapshot>) -> Self {
        Customers
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<CustomersSnapshot, Error> {
        match ctx.customer_uins().cloned() {
            Some(uins) => by_uin_list(ctx, &uins).await,
            None => {
                let served = ctx.served::<CustomersSnapshot>();
                let last = served.as_deref().and_then(|p| CustomersSnapshot::of(&p.snapshot));
                let suspended: HashMap<u64, f64> = last
                    .iter()
                    .flat_map(|s| &s.customers)
                    .filter_map(|c| Some((c.uin, c.suspended_since?)))
                    .collect();
                let last = last.map(|s| s.customers.len());
                drop(served);
                let known = last.unwrap_or_default();
                let walked = walk_checked(ctx, &LIST_RECHECKS, last, || by_listing(ctx, known)).await?;
                let mut customers = walked.items;
                customers.sort_by_key(|c| c.uin);
                let now = unix_now();
                for c in &mut customers {
                    c.suspended_since = since(c.force == Some(2), suspended.get(&c.uin).copied(), now);
                }
                // The API's `Total`, which the walk reached or nearly reached,
                // or the customers read when they are more.
                let total = walked.total.max(customers.len() as u64);
                Ok(CustomersSnapshot { total, customers })
            }
        }
    }
}

impl Collected for CustomersSnapshot {
    type By = Customers;
}

fn identify_type(code: Option<i64>) -> String {
    match code {
        Some(0) => "unverified".into(),
        Some(1) => "individual".into(),
        Some(2) => "enterprise".into(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Every customer, by UIN, from all pages of QueryCustomersCredit; `known`
/// is the length of the list last published.
async fn by_listing(ctx: &Context, known: usize) -> Result<Walked<CustomerRow>, Error> {
    walk(
        ctx,
        QueryCustomersCredit::NAME,
        PAGE_SIZE,
        known,
        |row: &CustomerRow| row.uin,
        |page, page_size| async move {
            let request = CustomersCreditRequest {
                page,
                page_size,
                // Oldest first: customers bound during the walk land on the last
                // page instead of shifting every page after the first.
                order: Some("asc".into()),
                ..Default::default()
            };
            let answer = ctx.call::<QueryCustomersCredit>(&request).await?;
            Ok(Page::of(answer.total, answer.data, |c| {
                Some(CustomerRow {
                    uin: c.client_uin?,
                    name: c.name.unwrap_or_default(),
                    remark: c.remark.unwrap_or_default(),
                    customer_type: c.customer_type.unwrap_or_default(),
                    identify_type: identify_type(c.identify_type),
                    credit: c.credit,
                    remaining: c.remaining_credit,
                    expiry: ctx.timestamp(c.recent_expiry.as_deref()),
                    force: c.force,
                    suspended_since: None,
                })
            }))
        },
    )
    .await
}

/// The customers of `--customers.uins`. One the API refuses (no longer the
/// partner's, or never was) is left out, counted and logged; the others are
/// exported.
async fn by_uin_list(ctx: &Context, uins: &[u64]) -> Result<CustomersSnapshot, Error> {
    let read = read_batches(ctx, uins, UIN_BATCH, CALLS_IN_FLIGHT, |uin_list| async move {
        let request = CreditByUinListRequest { uin_list };
        let answer = ctx.call::<QueryCreditByUinList>(&request).await?;
        let rows = answer.data.into_iter().filter_map(|c| {
            Some(CustomerRow {
                uin: c.uin?,
                credit: c.total_credit,
                remaining: c.remaining_credit,
                ..Default::default()
            })
        });
        Ok(rows.filter(|row| request.uin_list.contains(&row.uin)).collect())
    })
    .await?;
    let mut customers: Vec<CustomerRow> = read;
    customers.sort_by_key(|c| c.uin);
    customers.dedup_by_key(|c| c.uin);
    Ok(CustomersSnapshot {
        total: customers.len() as u64,
        customers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::{exposition, exposition_with};

    fn snapshot() -> CustomersSnapshot {
        CustomersSnapshot {
            total: 2,
            customers: vec![
                CustomerRow {
                    uin: 100,
                    name: "ops@example.com".into(),
                    remark: "say \"hi\"".into(),
                    customer_type: "new".into(),
                    identify_type: "enterprise".into(),
                    credit: Some(500.0),
                    remaining: Some(12.5),
                    expiry: Some(1_700_000_000.0),
                    force: Some(2),
                    suspended_since: Some(1_796_000_000.0),
                },
                // Every value the API may leave out, left out.
                CustomerRow {
                    uin: 200,
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn exports_each_customer_with_its_uin() {
        let text = exposition(&METRICS, &snapshot(), "customers");
        for line in [
            "tencentcloud_partner_customers{account=\"a\"} 2.0\n",
            "tencentcloud_partner_customer_credit_usd{account=\"a\",customer_uin=\"100\"} 500.0\n",
            "tencentcloud_partner_customer_credit_remaining_usd{account=\"a\",customer_uin=\"100\"} 12.5\n",
            "tencentcloud_partner_customer_credit_expiry_timestamp_seconds{account=\"a\",customer_uin=\"100\"} 1700000000.0\n",
            "tencentcloud_partner_customer_force_status{account=\"a\",customer_uin=\"100\"} 2.0\n",
            "tencentcloud_partner_customer_suspended_since_timestamp_seconds{account=\"a\",customer_uin=\"100\"} 1796000000.0\n",
            "tencentcloud_partner_customer_info{account=\"a\",customer_uin=\"100\",remark=\"say \\\"hi\\\"\",customer_type=\"new\",identify_type=\"enterprise\"} 1.0\n",
            "tencentcloud_partner_customer_info{account=\"a\",customer_uin=\"200\",remark=\"\",customer_type=\"\",identify_type=\"\"} 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("ops@example.com"), "names only when asked for");
    }

    #[test]
    fn a_customer_without_values_has_only_its_info() {
        let text = exposition(&METRICS, &snapshot(), "customers");
        assert_eq!(text.matches("customer_uin=\"200\"").count(), 1, "{text}");
    }

    #[test]
    fn names_are_exported_when_asked_for() {
        let text = exposition_with(&METRICS, &snapshot(), "customers", Options { export_names: true });
        assert!(
            text.contains("identify_type=\"enterprise\",name=\"ops@example.com\"} 1.0\n"),
            "{text}"
        );
    }
}
