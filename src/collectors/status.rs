//! `status`: whether each customer's account is normal or in arrears, and
//! whether it has spent anything, from DescribeCustomerInfo, 20 customers a
//! call. Its e-mail address and phone number are in the same answer and are
//! never read.

use crate::api;
use crate::api::actions::{CustomerInfoRequest, DescribeCustomerInfo};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::refresh::batches::read_batches;
use crate::refresh::since::since;
use crate::refresh::sweep::unix_now;
use crate::refresh::{Collected, Collector, Context, Error};
use crate::snapshot::{CustomersSnapshot, Rows, StatusRow, StatusSnapshot};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

/// What the status collector exports, per customer.
pub const METRICS: Table<StatusSnapshot, StatusRow> = Table {
    whole: &[],
    rows: |s| &s.rows,
    each: &[
        Metric {
            name: "customer_account_status",
            help: "The customer's AccountStatus: 0 normal, 1 forcibly mandatory, 2 mandatory arrears",
            unit: Unit::None,
            labels: customer,
            value: |r| r.account_status.map(|s| s as f64),
        },
        Metric {
            name: "customer_arrears_since_timestamp",
            help: "When the exporter first saw the customer in mandatory arrears (AccountStatus 2), at least since: the API gives no start; absent once settled",
            unit: Unit::Seconds,
            labels: customer,
            value: |r| r.arrears_since,
        },
        Metric {
            name: "customer_has_expense",
            help: "Whether the customer has spent anything (HasExpense): 1 yes, 0 no",
            unit: Unit::None,
            labels: customer,
            value: |r| r.has_expense.map(|e| e as f64),
        },
    ],
};

fn customer(r: &StatusRow, _: Options) -> Labels<'_> {
    vec![("customer_uin", Cow::Owned(r.uin.to_string()))]
}

/// The most UINs DescribeCustomerInfo accepts at once.
const UIN_BATCH: usize = 20;
/// Calls at once; the rate limiter (20/s) paces them. Eight keep it busy
/// while an answer takes up to 400 ms, four only up to 200 ms: as many as
/// the vouchers listing, which has the same limit, keeps. (Against the local
/// simulator, where an answer takes milliseconds, the two are the same.)
const CALLS_IN_FLIGHT: usize = 8;

/// Refreshes [`StatusSnapshot`].
#[derive(Debug, Default)]
pub struct Status;

impl Collector for Status {
    type Rows = StatusSnapshot;
    type Row = StatusRow;
    const METRICS: Table<StatusSnapshot, StatusRow> = METRICS;
    const ABOUT: &'static str = "the customers' account status";
    const INTERVAL: Duration = Duration::from_secs(5 * 60);
    const NEEDS_CUSTOMERS: bool = true;

    /// A new customer list concerns it when a customer joined or left: the
    /// status of every customer is read at each interval anyway.
    fn concerned(&self, ctx: &Context) -> bool {
        let uins = |uins: &mut dyn Iterator<Item = u64>| {
            let mut uins: Vec<u64> = uins.collect();
            uins.sort_unstable();
            uins
        };
        let listed = ctx.customers().ok();
        let listed = listed.as_deref().and_then(|p| CustomersSnapshot::of(&p.snapshot));
        let served = ctx.served::<StatusSnapshot>();
        let served = served.as_deref().and_then(|p| StatusSnapshot::of(&p.snapshot));
        match (listed, served) {
            (Some(listed), Some(served)) => {
                uins(&mut listed.customers.iter().map(|c| c.uin)) != uins(&mut served.rows.iter().map(|r| r.uin))
            }
            _ => true,
        }
    }

    fn start(_: Option<&StatusSnapshot>) -> Self {
        Status
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<StatusSnapshot, Error> {
        // The customer list alone, not its encoded text: a new list may
        // replace it while this refresh runs.
        let customers = ctx.customers()?.snapshot.clone();
        let list = CustomersSnapshot::of(&customers).ok_or(Error::NoCustomers)?;
        let uins: Vec<u64> = list.customers.iter().map(|c| c.uin).collect();
        // A customer the API refuses (unbound since it was listed) is refused
        // alone: the others of its batch are read.
        let answers = read_batches(ctx, &uins, UIN_BATCH, CALLS_IN_FLIGHT, |batch| statuses(ctx, batch)).await?;
        let mut found: HashMap<u64, StatusRow> = answers.into_iter().collect();
        // A customer the answer leaves out, or the API refused, keeps the
        // status last read, or has none: its series are absent, not zero.
        let served = ctx.served::<StatusSnapshot>();
        let last: HashMap<u64, &StatusRow> = served
            .as_deref()
            .and_then(|p| StatusSnapshot::of(&p.snapshot))
            .map(|s| s.rows.iter().map(|row| (row.uin, row)).collect())
            .unwrap_or_default();
        let now = unix_now();
        let rows = uins
            .iter()
            .map(|uin| {
                let seen = last.get(uin).and_then(|row| row.arrears_since);
                let mut row = found.remove(uin).unwrap_or_else(|| match last.get(uin) {
                    Some(row) => (*row).clone(),
                    None => StatusRow {
                        uin: *uin,
                        ..Default::default()
                    },
                });
                row.arrears_since = since(row.account_status == Some(2), seen, now);
                row
            })
            .collect();
        Ok(StatusSnapshot { rows })
    }
}

impl Collected for StatusSnapshot {
    type By = Status;
}

/// The status of each customer of `batch` the answer holds, by UIN.
async fn statuses(ctx: &Context, batch: Vec<u64>) -> Result<Vec<(u64, StatusRow)>, api::Error> {
    let request = CustomerInfoRequest { customer_uin: batch };
    let answer = ctx.call::<DescribeCustomerInfo>(&request).await?;
    Ok(answer
        .data
        .into_iter()
        .filter_map(|item| {
            let uin = u64::try_from(item.customer_uin?).ok()?;
            let row = StatusRow {
                uin,
                account_status: item.account_status,
                has_expense: item.has_expense,
                arrears_since: None,
            };
            Some((uin, row))
        })
        .filter(|(uin, _)| request.customer_uin.contains(uin))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_each_customers_status_and_expense() {
        let snapshot = StatusSnapshot {
            rows: vec![
                StatusRow {
                    uin: 100,
                    account_status: Some(2),
                    has_expense: Some(1),
                    arrears_since: Some(1_796_000_000.0),
                },
                // Left out of the answer: no series but none made up.
                StatusRow {
                    uin: 200,
                    ..Default::default()
                },
            ],
        };
        let text = exposition(&METRICS, &snapshot, "status");
        for line in [
            "tencentcloud_partner_customer_account_status{account=\"a\",customer_uin=\"100\"} 2.0\n",
            "tencentcloud_partner_customer_has_expense{account=\"a\",customer_uin=\"100\"} 1.0\n",
            "tencentcloud_partner_customer_arrears_since_timestamp_seconds{account=\"a\",customer_uin=\"100\"} 1796000000.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("customer_uin=\"200\""), "{text}");
    }
}
