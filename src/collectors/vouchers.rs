//! `vouchers`: every voucher of every customer. DescribeCustomerVoucherList
//! (all pages, 100 vouchers a call) gives each voucher's labels, amounts and
//! status, and is published as soon as it is read whole: at 50,000 vouchers,
//! every balance shows within half a minute of a first start.
//! DescribeCustomerVoucherUsageDetails, which gives its number of usage
//! records, is called only for a voucher that is new or whose balance or
//! status changed since it was last read: a voucher is used only by a
//! charge, which lowers its balance. Its answers are published as they are
//! read (see [`crate::refresh::items`]). Every other voucher keeps what was last read,
//! also across a restart with `--cache.snapshot-dir`.

mod aged;
mod list;

use crate::api::actions::{DescribeCustomerVoucherUsageDetails, VoucherUsageRequest};
use crate::metrics::counters::CounterDef;
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::refresh::{Collected, Collector, Context, Error, HandOver, Items, Key, Outcome, read_each};
use crate::snapshot::{CustomersSnapshot, Rows, VoucherRow, VouchersSnapshot};
use list::LIST_RECHECKS;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// What the vouchers collector exports, per voucher.
pub const METRICS: Table<VouchersSnapshot, VoucherRow> = Table {
    whole: &[],
    rows: |s| &s.rows,
    each: &[
        Metric {
            name: "voucher_amount",
            help: "Face value of the voucher in USD",
            unit: Unit::Usd,
            labels: voucher,
            value: |v| v.amount,
        },
        Metric {
            name: "voucher_remaining",
            help: "Balance left on the voucher in USD",
            unit: Unit::Usd,
            labels: voucher,
            value: |v| v.remaining,
        },
        Metric {
            name: "voucher_usage_records",
            help: "Number of charges made against the voucher",
            unit: Unit::None,
            labels: voucher,
            value: |v| v.usage_records.map(|n| n as f64),
        },
        Metric {
            name: "voucher_expiry_timestamp",
            help: "Unix time at which the voucher expires",
            unit: Unit::Seconds,
            labels: voucher,
            value: |v| v.expiry,
        },
        Metric {
            name: "voucher_info",
            help: "Descriptive labels of the voucher, value 1",
            unit: Unit::None,
            labels: voucher_info,
            value: |_| Some(1.0),
        },
    ],
};

fn voucher(v: &VoucherRow, _: Options) -> Labels<'_> {
    vec![
        ("customer_uin", Cow::Owned(v.customer_uin.to_string())),
        ("voucher_id", Cow::Owned(v.voucher_id.to_string())),
    ]
}

fn voucher_info(v: &VoucherRow, options: Options) -> Labels<'_> {
    let mut labels = voucher(v, options);
    labels.extend([
        ("status", Cow::Borrowed(&*v.status)),
        ("usage", Cow::Borrowed(&*v.usage)),
        ("payment_mode", Cow::Borrowed(&*v.payment_mode)),
        ("product_scope", Cow::Borrowed(&*v.product_scope)),
    ]);
    labels
}

/// Usage-detail calls at once; the rate limiter (20/s) paces them.
const VOUCHERS_IN_FLIGHT: usize = 16;

/// Counted where the usage details and the listing disagree on a balance.
pub static AMOUNT_MISMATCHES: CounterDef = CounterDef {
    name: "voucher_amount_mismatches",
    help: "Vouchers whose balance in DescribeCustomerVoucherUsageDetails (RemainAmount, exported) differed from \
           the one in DescribeCustomerVoucherList (RemainingAmount)",
};

/// Refreshes [`VouchersSnapshot`]. What it last read is what it serves: it
/// keeps no copy of its own, only when it last walked every voucher.
#[derive(Debug, Default)]
pub struct Vouchers {
    walked_all: Option<Instant>,
    /// The customer list's UINs, sorted, when the vouchers were last listed.
    customers: Option<Vec<u64>>,
}

impl Vouchers {
    /// Whether this refresh walks every voucher, ended ones included: the
    /// first after a start, then once per `--refresh.vouchers-full-interval`,
    /// and when a customer left the customer list (`customers`, now) since
    /// the last: only such a walk removes its ended vouchers.
    fn walks_all(&self, ctx: &Context, customers: Option<&[u64]>) -> bool {
        let every = ctx.full_sweep().unwrap_or(Duration::ZERO);
        let due = self.walked_all.is_none_or(|at| at.elapsed() >= every);
        let one_left = match (&self.customers, customers) {
            (Some(before), Some(now)) => before.iter().any(|uin| now.binary_search(uin).is_err()),
            _ => false,
        };
        due || one_left
    }
}

/// The UINs of the customer list served, sorted; `None` without a complete one.
fn customer_uins(ctx: &Context) -> Option<Vec<u64>> {
    let published = ctx.customers().ok().filter(|p| p.complete)?;
    let list = CustomersSnapshot::of(&published.snapshot)?;
    let mut uins: Vec<u64> = list.customers.iter().map(|c| c.uin).collect();
    uins.sort_unstable();
    Some(uins)
}

impl Collector for Vouchers {
    type Rows = VouchersSnapshot;
    type Row = VoucherRow;
    const METRICS: Table<VouchersSnapshot, VoucherRow> = METRICS;
    const ABOUT: &'static str = "the customers' vouchers";
    const INTERVAL: Duration = Duration::from_secs(5 * 60);
    const FULL_SWEEP: Option<Duration> = Some(Duration::from_secs(24 * 60 * 60));
    const FULL_SWEEP_HELP: &'static str = "walks every voucher, ended ones included; between, it walks those in use and reads by its id each that left them";
    const COUNTERS: &'static [&'static CounterDef] = &[&AMOUNT_MISMATCHES, &LIST_RECHECKS];

    fn start(_: Option<&VouchersSnapshot>) -> Self {
        Vouchers::default()
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<VouchersSnapshot, Error> {
        // A voucher unchanged since the snapshot served (restored from disk
        // after a restart) needs no usage-details call.
        let served = ctx.served::<VouchersSnapshot>();
        let last_rows = served.as_deref().and_then(|p| VouchersSnapshot::of(&p.snapshot));
        let customers = customer_uins(ctx);
        let walks_all = self.walks_all(ctx, customers.as_deref());
        let listed = list::read(ctx, last_rows, walks_all).await?;
        if listed.walked_all {
            self.walked_all = Some(Instant::now());
        }
        let mut memory = aged::Memory::of(last_rows.map_or(&[][..], |s| &s.aged_out));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let last = |row: &VoucherRow| {
            let rows = &last_rows?.rows;
            let key = (row.customer_uin, row.voucher_id);
            rows.binary_search_by_key(&key, |r| (r.customer_uin, r.voucher_id))
                .ok()
                .map(|i| &rows[i])
        };
        let mut rows = Vec::with_capacity(listed.rows.len());
        let mut changed = Vec::new();
        let mut keys = std::collections::HashSet::with_capacity(listed.rows.len());
        for mut row in listed.rows {
            keys.insert((row.customer_uin, row.voucher_id));
            if left(customers.as_deref(), &row) {
                continue;
            }
            let last = last(&row);
            let seen = last.and_then(|l| l.ended).or_else(|| memory.ended(&row));
            row.ended = list::ended_at(&row, seen, now);
            if !list::retained(&row, now, ctx.ended_retention()) {
                memory.aged_out(&row, row.ended.unwrap_or(now));
                continue;
            }
            match last {
                Some(last) if same_balance(last, &row) => rows.push(carried(last, row)),
                last => {
                    let row = pending(last, row);
                    changed.push(Due::of(&row));
                    rows.push(row);
                }
            }
        }
        drop(served);
        // Sorted, as the lookups below and the next refresh's need.
        rows.sort_by_key(|r| (r.customer_uin, r.voucher_id));
        // Read in the order they are exported: each part then changes a run
        // of lines of `voucher_usage_records`, and the rest of the family is
        // shared with the part before (see `metrics::families`), where
        // reads spread over it re-encoded all of it every part.
        changed.sort_unstable_by_key(|due| (due.customer_uin, due.voucher_id));
        let aged_out = memory.keep(
            listed.walked_all,
            |uin, id| keys.contains(&(uin, id)),
            now,
            ctx.ended_retention(),
        );
        if customers.is_some() {
            self.customers = customers;
        }
        let mut snapshot = VouchersSnapshot { rows, aged_out };
        if changed.is_empty() {
            return Ok(snapshot);
        }
        // The listing holds every balance: served at once, before any details.
        ctx.publish_part(snapshot.clone()).await;
        ctx.items_due::<DescribeCustomerVoucherUsageDetails>(changed.len());
        read_each(
            ctx,
            &mut snapshot,
            Items {
                due: changed,
                in_flight: VOUCHERS_IN_FLIGHT,
                key: |due| Key {
                    customer: due.customer_uin,
                    id: due.voucher_id,
                    again: due.refused_before,
                },
            },
            |due| with_usage(ctx, due),
            |snapshot, outcome| {
                let rows = &mut snapshot.rows;
                let key = match &outcome {
                    Outcome::Answered(usage) => (usage.due.customer_uin, usage.due.voucher_id),
                    Outcome::Refused(key) => (key.customer, key.id),
                };
                let Ok(i) = rows.binary_search_by_key(&key, |r| (r.customer_uin, r.voucher_id)) else {
                    return;
                };
                match outcome {
                    Outcome::Answered(usage) => usage.apply(&mut rows[i]),
                    Outcome::Refused(_) => refused_for_good(&mut rows[i]),
                }
            },
            HandOver,
        )
        .await?;
        Ok(snapshot)
    }
}

/// Whether `row` has ended and its customer is no longer in the customer
/// list (`customers`, sorted, when a complete one is served): a customer who
/// leaves takes its ended vouchers with it at once, as it does those in use.
fn left(customers: Option<&[u64]>, row: &VoucherRow) -> bool {
    list::has_ended(&row.status) && customers.is_some_and(|uins| uins.binary_search(&row.customer_uin).is_err())
}

/// Whether the listing shows `listed` as it was when `last` read its usage
/// details: same balance and status. Using a voucher changes its balance, so
/// the details, and the count of usage records, are as they were. An ended
/// voucher whose details were refused for good is as it was too.
fn same_balance(last: &VoucherRow, listed: &VoucherRow) -> bool {
    (last.usage_records.is_some() || last.details_refused >= REFUSED_FOR_GOOD)
        && last.status == listed.status
        && last.listed_remaining == listed.remaining
}

/// At how many refreshes in a row the details of an ended voucher are
/// refused before they are not asked again: one refusal may have been a
/// passing one.
const REFUSED_FOR_GOOD: u8 = 2;

/// Counts a refusal of a voucher's usage details by the API, alone: one that
/// has ended cannot change, so once they are refused at two refreshes in a
/// row they are not asked again while it is exported (see
/// [`same_balance`]); one in use is asked again next refresh.
fn refused_for_good(row: &mut VoucherRow) {
    if list::has_ended(&row.status) {
        row.details_refused = row.details_refused.saturating_add(1);
        row.listed_remaining = row.remaining;
    }
}

/// The listing's row of a voucher whose details have not changed: its labels
/// and expiry from the listing, its amounts and usage count as last read.
fn carried(last: &VoucherRow, listed: VoucherRow) -> VoucherRow {
    VoucherRow {
        amount: last.amount,
        remaining: last.remaining,
        usage_records: last.usage_records,
        listed_remaining: last.listed_remaining,
        details_refused: last.details_refused,
        ..listed
    }
}

/// The listing's row of a voucher whose details are still to be read: its
/// amounts from the listing, its usage count as last read (none for a new
/// voucher), and the balance of that read, so that it is read again should
/// this refresh not reach it.
fn pending(last: Option<&VoucherRow>, listed: VoucherRow) -> VoucherRow {
    VoucherRow {
        usage_records: last.and_then(|l| l.usage_records),
        listed_remaining: last.and_then(|l| l.listed_remaining),
        details_refused: last
            .filter(|l| l.status == listed.status)
            .map_or(0, |l| l.details_refused),
        ..listed
    }
}

/// A voucher whose usage details are due: what the call and the comparison
/// of balances need, not the whole row (at a first start every voucher is
/// due, and 50,000 copies of the row were 9 MB held through the refresh).
#[derive(Debug, Clone, Copy)]
struct Due {
    customer_uin: u64,
    voucher_id: u64,
    /// The listing's `RemainingAmount`.
    listed: Option<f64>,
    /// Whether its details were refused at the last refresh.
    refused_before: bool,
}

impl Due {
    fn of(row: &VoucherRow) -> Self {
        Self {
            customer_uin: row.customer_uin,
            voucher_id: row.voucher_id,
            listed: row.remaining,
            refused_before: row.details_refused > 0,
        }
    }
}

/// A voucher's usage details, as read.
#[derive(Debug)]
struct Usage {
    due: Due,
    total: Option<f64>,
    remaining: Option<f64>,
    records: Option<u64>,
}

impl Usage {
    /// Fills in the amounts from the usage details; the listing's values
    /// stand where the details leave a field out.
    fn apply(self, row: &mut VoucherRow) {
        row.listed_remaining = self.due.listed;
        row.amount = self.total.or(row.amount);
        row.remaining = self.remaining.or(row.remaining);
        row.usage_records = self.records;
        row.details_refused = 0;
    }
}

impl Collected for VouchersSnapshot {
    type By = Vouchers;
}

/// Reads the usage details of `due`. Where they and the listing disagree on
/// the balance, the details win, and the disagreement is counted.
async fn with_usage(ctx: &Context, due: Due) -> Result<Usage, Error> {
    let request = VoucherUsageRequest {
        page: 1,
        page_size: 1,
        customer_uin: due.customer_uin,
        voucher_id: due.voucher_id,
        month: None,
    };
    // A voucher the details do not know (withdrawn since it was listed) is
    // refused alone: it keeps the listing's values, and its details are
    // asked again next time.
    let usage = ctx.call::<DescribeCustomerVoucherUsageDetails>(&request).await?;
    if let (Some(listed), Some(details)) = (due.listed, usage.remain_amount)
        && cents(listed) != cents(details)
    {
        ctx.count(&AMOUNT_MISMATCHES);
        tracing::debug!(
            voucher_id = due.voucher_id,
            listed,
            details,
            "the voucher list and the usage details disagree on the balance; exporting the details'"
        );
    }
    Ok(Usage {
        due,
        total: usage.total_amount,
        remaining: usage.remain_amount,
        records: usage.total_records_count,
    })
}

/// An amount in whole cents, the precision the API bills in.
fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_each_voucher_by_customer_and_id() {
        let snapshot = VouchersSnapshot {
            aged_out: Vec::new(),
            rows: vec![
                VoucherRow {
                    customer_uin: 100,
                    voucher_id: 7,
                    status: "Issued".into(),
                    usage: "CustomerOffer".into(),
                    payment_mode: "AllPayment".into(),
                    product_scope: "AllProducts".into(),
                    amount: Some(100.0),
                    remaining: Some(12.5),
                    usage_records: Some(4),
                    expiry: Some(1_700_000_000.0),
                    listed_remaining: Some(12.5),
                    ended: None,
                    details_refused: 0,
                },
                // Every value the API may leave out, left out.
                VoucherRow {
                    customer_uin: 100,
                    voucher_id: 8,
                    ..Default::default()
                },
            ],
        };
        let text = exposition(&METRICS, &snapshot, "vouchers");
        for line in [
            "tencentcloud_partner_voucher_amount_usd{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 100.0\n",
            "tencentcloud_partner_voucher_remaining_usd{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 12.5\n",
            "tencentcloud_partner_voucher_usage_records{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 4.0\n",
            "tencentcloud_partner_voucher_expiry_timestamp_seconds{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 1700000000.0\n",
            "tencentcloud_partner_voucher_info{account=\"a\",customer_uin=\"100\",voucher_id=\"7\",status=\"Issued\",usage=\"CustomerOffer\",payment_mode=\"AllPayment\",product_scope=\"AllProducts\"} 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(text.matches("voucher_id=\"8\"").count(), 1, "only its info: {text}");
    }
}
