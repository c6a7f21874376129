//! `bills`: what each customer has spent so far this month, from
//! DescribeCustomerBillSummary, one customer a call.
//!
//! The action is documented at 1 call a second: a first read of 10,000
//! customers takes 2 h 47 min. So the collector is off by default, and reads
//! a customer's bill again only when
//! - its `RemainingCredit` (customers collector) or what is left on its
//!   vouchers (vouchers collector, when on) changed since: spending moves them.
//!   What is left on the vouchers is taken as served when the bill is read,
//!   never newer than the bill; a bill read before the vouchers were first
//!   published is read again once they are;
//! - the month turned: every bill starts again. The month is the API's, by its
//!   clock as the client knows it, in `--api.timezone`;
//! - the full sweep is due (`--refresh.bills-full-interval`), for a bill
//!   that moved with neither balance, as a customer paying by other means.
//!
//! A refresh reads at most as many bills as the rate limit lets through in one
//! interval, customers with the least credit left first; the rest wait for the
//! next refresh. The sweep's share is kept out of that cut, so that every
//! bill is read within the full interval however many balances move; the
//! reads themselves go least credit first, so those closest to running out
//! are never behind a sweep of everyone else. What has been read is published
//! as the refresh goes (see [`crate::refresh::items`]).

use crate::api::actions::{BillSummaryRequest, DescribeCustomerBillSummary};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit, no_labels};
use crate::refresh::sweep::{Sweep, unix_now};
use crate::refresh::{Collected, Collector, Context, Error, Items, Key, Outcome, read_each};
use crate::snapshot::{BillRow, BillsSnapshot, CustomerRow, CustomersSnapshot, Rows, VouchersSnapshot};
use chrono::{DateTime, Datelike, FixedOffset};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What the bills collector exports: the month, and each customer's cost in it.
pub const METRICS: Table<BillsSnapshot, BillRow> = Table {
    whole: &[Metric {
        name: "bills_month_start_timestamp",
        help: "Start of the month the customers' month-to-date costs are for, in the API's time zone",
        unit: Unit::Seconds,
        labels: no_labels,
        value: |s| s.month_start,
    }],
    rows: |s| &s.rows,
    each: &[Metric {
        name: "customer_cost_month_to_date",
        help: "What the customer has been billed this month so far (TotalCost) in USD",
        unit: Unit::Usd,
        labels: customer,
        value: |r| r.cost,
    }],
};

fn customer(r: &BillRow, _: Options) -> Labels<'_> {
    vec![("customer_uin", Cow::Owned(r.uin.to_string()))]
}

/// Calls at once; the rate limiter (1/s) paces them.
const CALLS_IN_FLIGHT: usize = 2;

/// Refreshes [`BillsSnapshot`], remembering each customer's last read.
#[derive(Debug, Default)]
pub struct Bills {
    /// The month of `known`, `YYYY-MM`.
    month: String,
    known: HashMap<u64, BillRow>,
    sweep: Sweep,
}

impl Collector for Bills {
    type Rows = BillsSnapshot;
    type Row = BillRow;
    const METRICS: Table<BillsSnapshot, BillRow> = METRICS;
    const ABOUT: &'static str = "the customers' bills this month";
    const INTERVAL: Duration = Duration::from_secs(15 * 60);
    const ENABLED_BY_DEFAULT: bool = false;
    const NEEDS_CUSTOMERS: bool = true;
    const FULL_SWEEP: Option<Duration> = Some(Duration::from_secs(24 * 60 * 60));

    /// A new customer list concerns it when a customer's bill is to be read:
    /// one not read this month, or whose credit or vouchers moved.
    fn concerned(&self, ctx: &Context) -> bool {
        let Some(list) = ctx.customers().ok() else {
            return false;
        };
        let Some(list) = CustomersSnapshot::of(&list.snapshot) else {
            return false;
        };
        let month = ctx.api_now().format("%Y-%m").to_string();
        month != self.month || !changed(&list.customers, &self.known, &voucher_balances(ctx)).is_empty()
    }

    /// Starts from the snapshot served: a customer whose balances have not
    /// moved since costs no call, until the month turns.
    fn start(previous: Option<&BillsSnapshot>) -> Self {
        let Some(previous) = previous else {
            return Self::default();
        };
        Self {
            month: previous.month.clone(),
            known: previous.rows.iter().map(|r| (r.uin, r.clone())).collect(),
            sweep: Sweep::resume(previous.rows.iter().map(|r| r.read_at)),
        }
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<BillsSnapshot, Error> {
        // The customer list alone, not its encoded text: a new list may
        // replace it while this refresh runs.
        let customers = ctx.customers()?.snapshot.clone();
        let list = CustomersSnapshot::of(&customers).ok_or(Error::NoCustomers)?;
        let today = ctx.api_now();
        let month = today.format("%Y-%m").to_string();
        // A new month makes every bill read so far last month's: none is
        // served as this month's, not even until the first part of it.
        let known = if month == self.month {
            std::mem::take(&mut self.known)
        } else {
            if !self.month.is_empty() {
                ctx.publish_part(snapshot(&month, month_start(today), &HashMap::new()))
                    .await;
            }
            HashMap::new()
        };
        let vouchers = voucher_balances(ctx);
        let balances = Balances::default();
        let now = unix_now();
        let read_before = list
            .customers
            .iter()
            .filter_map(|c| Some((c.uin, known.get(&c.uin)?.read_at)));
        let swept = self
            .sweep
            .due(ctx.full_sweep(), ctx.interval(), now, list.customers.len(), read_before);
        let budget = ctx.calls_per_interval::<DescribeCustomerBillSummary>();
        let (due, unread) = due(&list.customers, &known, &vouchers, swept, budget);
        self.sweep.owe(unread);
        let due: Vec<(u64, Option<f64>)> = due.iter().map(|c| (c.uin, c.remaining)).collect();
        ctx.items_due::<DescribeCustomerBillSummary>(due.len());
        let listed: HashSet<u64> = list.customers.iter().map(|c| c.uin).collect();
        let mut known = known;
        known.retain(|uin, _| listed.contains(uin));
        let month_start = month_start(today);
        let so_far = |known: &HashMap<u64, BillRow>| snapshot(&month, month_start, known);
        // At one call a second, what was read before a failure is kept for
        // the next refresh.
        let outcome = read_each(
            ctx,
            &mut known,
            Items {
                due,
                in_flight: CALLS_IN_FLIGHT,
                key: |(uin, _)| Key::customer(*uin),
            },
            // What is left on the customer's vouchers as served when its
            // bill is read: never newer than the bill, so that spending
            // between the two shows as a move at the next refresh.
            |(uin, remaining)| read_bill(ctx, uin, remaining, &month, balances.at_read(ctx, uin), now),
            |known, outcome| {
                if let Outcome::Answered(row) = outcome {
                    known.insert(row.uin, row);
                }
            },
            so_far,
        )
        .await;
        let snapshot = so_far(&known);
        (self.month, self.known) = (month, known);
        outcome.map(|()| snapshot)
    }
}

/// The bills read this month, by UIN.
fn snapshot(month: &str, month_start: Option<f64>, known: &HashMap<u64, BillRow>) -> BillsSnapshot {
    let mut rows: Vec<BillRow> = known.values().cloned().collect();
    rows.sort_by_key(|r| r.uin);
    BillsSnapshot {
        month: month.to_owned(),
        month_start,
        rows,
    }
}

impl Collected for BillsSnapshot {
    type By = Bills;
}

/// The customers whose bill this refresh reads, least credit left first, at
/// most `budget`: those the sweep owes (`swept`) are kept out of the cut,
/// then the changed ones fill the rest. Also says how many of `swept` did
/// not fit, for the sweep to owe them again.
fn due<'c>(
    customers: &'c [CustomerRow],
    known: &HashMap<u64, BillRow>,
    vouchers: &HashMap<u64, f64>,
    swept: HashSet<u64>,
    budget: usize,
) -> (Vec<&'c CustomerRow>, usize) {
    let mut sweep: Vec<&CustomerRow> = customers.iter().filter(|c| swept.contains(&c.uin)).collect();
    let mut due: Vec<&CustomerRow> = changed(customers, known, vouchers)
        .into_iter()
        .filter(|c| !swept.contains(&c.uin))
        .collect();
    let unread = sweep.len().saturating_sub(budget);
    sweep.truncate(budget);
    due.truncate(budget - sweep.len());
    due.extend(sweep);
    by_credit_left(&mut due);
    (due, unread)
}

/// The customers new this month or whose balances moved since their last
/// read, least credit left first.
fn changed<'c>(
    customers: &'c [CustomerRow],
    known: &HashMap<u64, BillRow>,
    vouchers: &HashMap<u64, f64>,
) -> Vec<&'c CustomerRow> {
    let mut due: Vec<&CustomerRow> = customers
        .iter()
        .filter(|c| match known.get(&c.uin) {
            None => true,
            Some(last) => {
                // Vouchers not known when the bill was read (their collector
                // had not published yet, or the customer had none) may have
                // been spent since: read again once.
                let vouchers_moved = match (last.vouchers_seen, vouchers.get(&c.uin)) {
                    (Some(seen), Some(now)) => seen != *now,
                    (None, Some(_)) => true,
                    (_, None) => false,
                };
                last.remaining_seen != c.remaining || vouchers_moved
            }
        })
        .collect();
    by_credit_left(&mut due);
    due
}

/// Least credit left first.
fn by_credit_left(customers: &mut [&CustomerRow]) {
    let left = |c: &CustomerRow| c.remaining.unwrap_or(f64::INFINITY);
    customers.sort_by(|a, b| left(a).total_cmp(&left(b)).then(a.uin.cmp(&b.uin)));
}

/// What is left on each customer's vouchers, from the vouchers collector's
/// snapshot; empty when it does not run.
fn voucher_balances(ctx: &Context) -> HashMap<u64, f64> {
    ctx.served::<VouchersSnapshot>()
        .map_or_else(HashMap::new, |served| sum_by_customer(&served.snapshot))
}

/// What is left on the vouchers of `snapshot`, by customer.
fn sum_by_customer(snapshot: &crate::snapshot::Snapshot) -> HashMap<u64, f64> {
    let mut balances = HashMap::new();
    for voucher in VouchersSnapshot::of(snapshot).map_or(&[][..], |s| &s.rows) {
        *balances.entry(voucher.customer_uin).or_insert(0.0) += voucher.remaining.unwrap_or(0.0);
    }
    balances
}

/// What is left on each customer's vouchers in the vouchers snapshot
/// served, summed again only when a new one is.
#[derive(Default)]
struct Balances {
    last: std::sync::Mutex<Option<Summed>>,
}

/// A vouchers publication, and what is left on its vouchers by customer.
type Summed = (std::sync::Arc<crate::metrics::exposition::Published>, HashMap<u64, f64>);

impl Balances {
    fn at_read(&self, ctx: &Context, uin: u64) -> Option<f64> {
        let served = ctx.served::<VouchersSnapshot>()?;
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !last.as_ref().is_some_and(|(of, _)| std::sync::Arc::ptr_eq(of, &served)) {
            *last = Some((served.clone(), sum_by_customer(&served.snapshot)));
        }
        last.as_ref().and_then(|(_, balances)| balances.get(&uin).copied())
    }
}

/// Reads one customer's bill for `month`. A customer the API does not know
/// (unbound since the list was read) is skipped: its last row stands until
/// the next customer list drops it.
async fn read_bill(
    ctx: &Context,
    uin: u64,
    remaining: Option<f64>,
    month: &str,
    vouchers: Option<f64>,
    now: f64,
) -> Result<BillRow, Error> {
    let request = BillSummaryRequest {
        customer_uin: uin,
        month: month.to_owned(),
    };
    // A customer the API refuses a bill for is refused alone (see `read_each`).
    let bill = ctx.call::<DescribeCustomerBillSummary>(&request).await?;
    Ok(BillRow {
        uin,
        cost: bill.total_cost,
        remaining_seen: remaining,
        vouchers_seen: vouchers,
        read_at: Some(now),
    })
}

/// Unix seconds of the first instant of `today`'s month, in its zone.
fn month_start(today: DateTime<FixedOffset>) -> Option<f64> {
    let first = today.date_naive().with_day(1)?.and_hms_opt(0, 0, 0)?;
    Some(first.and_local_timezone(today.timezone()).single()?.timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    fn customer(uin: u64, remaining: f64) -> CustomerRow {
        CustomerRow {
            uin,
            remaining: Some(remaining),
            ..Default::default()
        }
    }

    fn bill(uin: u64, remaining: f64, vouchers: Option<f64>) -> (u64, BillRow) {
        let row = BillRow {
            uin,
            cost: Some(1.0),
            remaining_seen: Some(remaining),
            vouchers_seen: vouchers,
            read_at: Some(0.0),
        };
        (uin, row)
    }

    #[test]
    fn exports_the_month_and_each_customers_cost() {
        let snapshot = BillsSnapshot {
            month: "2026-11".into(),
            month_start: Some(1_761_926_400.0),
            rows: vec![BillRow {
                uin: 100,
                cost: Some(1234.56),
                ..Default::default()
            }],
        };
        let text = exposition(&METRICS, &snapshot, "bills");
        for line in [
            "tencentcloud_partner_bills_month_start_timestamp_seconds{account=\"a\"} 1761926400.0\n",
            "tencentcloud_partner_customer_cost_month_to_date_usd{account=\"a\",customer_uin=\"100\"} 1234.56\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn reads_new_moved_and_swept_customers_least_credit_first() {
        let customers = [
            customer(1, 50.0),  // unchanged
            customer(2, 10.0),  // credit moved
            customer(3, 900.0), // new
            customer(4, 70.0),  // vouchers moved
            customer(5, 5.0),   // swept
        ];
        let known = HashMap::from([
            bill(1, 50.0, Some(3.0)),
            bill(2, 12.5, None),
            bill(4, 70.0, Some(8.0)),
            bill(5, 5.0, None),
        ]);
        let vouchers = HashMap::from([(1, 3.0), (4, 7.5)]);
        let (read, unread) = due(&customers, &known, &vouchers, HashSet::from([5]), 10);
        let uins: Vec<u64> = read.iter().map(|c| c.uin).collect();
        assert_eq!(uins, [5, 2, 4, 3]);
        assert_eq!(unread, 0);
        let unchanged_credit = [customer(2, 12.5)];
        assert!(changed(&unchanged_credit, &known, &vouchers).is_empty());
        // Customer 2's vouchers were not known when its bill was read: they
        // may have been spent since, and it is read again.
        let first_seen = HashMap::from([(2, 9.0)]);
        assert_eq!(changed(&unchanged_credit, &known, &first_seen).len(), 1);
    }

    #[test]
    fn the_sweeps_share_is_read_however_many_balances_moved() {
        // Every customer's credit moved: the changed ones alone would fill the
        // budget, least credit first, and the customers with the most credit
        // would never be read again.
        let customers: Vec<CustomerRow> = (1..=100).map(|uin| customer(uin, uin as f64)).collect();
        let known: HashMap<u64, BillRow> = (1..=100).map(|uin| bill(uin, -1.0, None)).collect();
        let (read, unread) = due(&customers, &known, &HashMap::new(), HashSet::from([99, 100]), 10);
        let uins: Vec<u64> = read.iter().map(|c| c.uin).collect();
        assert_eq!(uins, [1, 2, 3, 4, 5, 6, 7, 8, 99, 100]);
        assert_eq!(unread, 0);
        // A share larger than the budget: what does not fit is owed again.
        let (read, unread) = due(&customers, &known, &HashMap::new(), (91..=100).chain([1]).collect(), 4);
        assert_eq!(read.len(), 4);
        assert!(read.iter().all(|c| c.uin == 1 || c.uin > 90));
        assert_eq!(unread, 7);
    }

    #[test]
    fn the_month_starts_at_midnight_in_the_api_zone() {
        let china = FixedOffset::east_opt(8 * 3600).unwrap();
        // 2026-11-30 23:30 UTC is 2026-12-01 07:30 in China: December began at
        // 2026-11-30 16:00 UTC.
        let today = DateTime::from_timestamp(1_796_081_400, 0)
            .unwrap()
            .with_timezone(&china);
        assert_eq!(today.format("%Y-%m").to_string(), "2026-12");
        assert_eq!(month_start(today), Some(1_796_054_400.0));
    }
}
