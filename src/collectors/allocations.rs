//! `allocations`: how often and how recently each customer was given credit,
//! from QueryCreditAllocationHistory, one customer at a time.
//!
//! A customer's allocations change its `Credit`, which the customers
//! collector reads every few minutes; this collector runs after each new
//! customer list and reads the history only of customers whose `Credit`
//! differs from when their history was last read, or who are new. What that
//! cannot see, such as a top-up and a reclaim of the same amount, the full
//! sweep catches: every history is read again within
//! `--refresh.allocations-full-interval`, a share of them at each refresh.
//!
//! Customers are read closest to running out first, and what has been read
//! is published as the refresh goes (see [`crate::refresh::items`]): on a first start
//! the customers that matter most show first.
//!
//! The API does not document the order of the records, so the newest is found
//! without assuming one:
//! - a customer never read, or whose `Credit` moved, is read with page 1 of
//!   100 records: `Total` and, with 100 records or fewer, every record, in one
//!   call. With more, the history is sorted one way or the other, so the
//!   newest is the first record or on the last page, which is read too;
//! - a customer the full sweep reads though nothing changed is probed with
//!   page 1 of one record: when `Total` is what it was, the last answer
//!   stands, which is the common case; otherwise it is read as above.
//!
//! The largest page size is undocumented. When page 1 holds fewer records
//! than asked while more remain, the server serves fewer a page than asked:
//! the size it serves is learnt from it, and kept for every later customer.

use crate::api::actions::{Allocation, AllocationHistoryRequest, QueryCreditAllocationHistory};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::refresh::sweep::{Sweep, unix_now};
use crate::refresh::{Collected, Collector, Context, Error, Items, Key, Outcome, read_each};
use crate::snapshot::{AllocationRow, AllocationsSnapshot, CustomerRow, CustomersSnapshot, Rows};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the allocations collector exports, per customer.
pub const METRICS: Table<AllocationsSnapshot, AllocationRow> = Table {
    whole: &[],
    rows: |s| &s.rows,
    each: &[
        Metric {
            name: "customer_credit_allocations",
            help: "Number of credit allocations the customer has received",
            unit: Unit::None,
            labels: customer,
            value: |r| Some(r.count as f64),
        },
        Metric {
            name: "customer_credit_last_allocation_timestamp",
            help: "Unix time of the customer's newest credit allocation",
            unit: Unit::Seconds,
            labels: customer,
            value: |r| r.last_time,
        },
        Metric {
            name: "customer_credit_last_allocation",
            help: "Credit of the customer's newest allocation in USD",
            unit: Unit::Usd,
            labels: customer,
            value: |r| r.last_credit,
        },
    ],
};

fn customer(r: &AllocationRow, _: Options) -> Labels<'_> {
    vec![("customer_uin", Cow::Owned(r.uin.to_string()))]
}

/// Records per page when reading the last page of a history.
const PAGE_SIZE: u64 = 100;
/// Customers whose histories are read at once; the rate limiter paces them.
const CUSTOMERS_IN_FLIGHT: usize = 8;

/// Refreshes [`AllocationsSnapshot`], remembering each customer's last answer.
#[derive(Debug)]
pub struct Allocations {
    known: HashMap<u64, AllocationRow>,
    /// Records per page the server actually serves, at most [`PAGE_SIZE`].
    page_size: AtomicU64,
    sweep: Sweep,
}

impl Collector for Allocations {
    type Rows = AllocationsSnapshot;
    type Row = AllocationRow;
    const METRICS: Table<AllocationsSnapshot, AllocationRow> = METRICS;
    const ABOUT: &'static str = "the customers' credit allocation history";
    const INTERVAL: Duration = Duration::from_secs(60 * 60);
    const FULL_SWEEP: Option<Duration> = Some(Duration::from_secs(24 * 60 * 60));
    const NEEDS_CUSTOMERS: bool = true;

    /// A new customer list concerns it when a customer's history is to be
    /// read: one never read, or whose credit changed.
    fn concerned(&self, ctx: &Context) -> bool {
        let Some(list) = ctx.customers().ok() else {
            return false;
        };
        CustomersSnapshot::of(&list.snapshot).is_some_and(|list| {
            list.customers
                .iter()
                .any(|c| self.known.get(&c.uin).is_none_or(|last| last.credit_seen != c.credit))
        })
    }

    /// Starts from the snapshot served: a customer whose credit has not
    /// changed since then costs no call, and the full sweep goes on from
    /// where it was.
    fn start(previous: Option<&AllocationsSnapshot>) -> Self {
        let rows = previous.map_or(&[][..], |s| &s.rows);
        Self {
            known: rows.iter().map(|r| (r.uin, r.clone())).collect(),
            page_size: AtomicU64::new(PAGE_SIZE),
            sweep: Sweep::resume(rows.iter().map(|r| r.read_at)),
        }
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<AllocationsSnapshot, Error> {
        // The customer list alone, not its encoded text: a new list may
        // replace it while this refresh runs.
        let customers = ctx.customers()?.snapshot.clone();
        let list = CustomersSnapshot::of(&customers).ok_or(Error::NoCustomers)?;
        let now = unix_now();
        let read_before = list
            .customers
            .iter()
            .filter_map(|c| Some((c.uin, self.known.get(&c.uin)?.read_at)));
        let swept = self
            .sweep
            .due(ctx.full_sweep(), ctx.interval(), now, list.customers.len(), read_before);
        // Every listed customer keeps its last answer until its history is
        // read again; one never read has no series until then.
        let mut rows: HashMap<u64, AllocationRow> = list
            .customers
            .iter()
            .filter_map(|c| Some((c.uin, self.known.get(&c.uin)?.clone())))
            .collect();
        let mut due = Vec::new();
        for customer in by_urgency(&list.customers) {
            let read = match rows.get(&customer.uin) {
                None => Read::Whole,
                Some(last) if last.credit_seen != customer.credit => Read::Whole,
                Some(_) if swept.contains(&customer.uin) => Read::Probe,
                Some(_) => continue,
            };
            due.push((customer.uin, customer.credit, read));
        }
        ctx.items_due::<QueryCreditAllocationHistory>(due.len());
        let (known, page_size) = (&self.known, &self.page_size);
        let outcome = read_each(
            ctx,
            &mut rows,
            Items {
                due,
                in_flight: CUSTOMERS_IN_FLIGHT,
                key: |(uin, _, _)| Key::customer(*uin),
            },
            |(uin, credit, read)| reread(ctx, uin, credit, known.get(&uin), read, page_size, now),
            |rows, outcome| {
                if let Outcome::Answered(row) = outcome {
                    rows.insert(row.uin, row);
                }
            },
            snapshot,
        )
        .await;
        // What was read stays known, also when the refresh failed: the next
        // one reads only the customers not reached.
        self.known = rows;
        outcome?;
        Ok(snapshot(&self.known))
    }
}

/// The rows of every customer read, by UIN.
fn snapshot(rows: &HashMap<u64, AllocationRow>) -> AllocationsSnapshot {
    let mut rows: Vec<AllocationRow> = rows.values().cloned().collect();
    rows.sort_by_key(|r| r.uin);
    AllocationsSnapshot { rows }
}

/// How a customer's history is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Never read, or its credit moved: page 1 of 100 records.
    Whole,
    /// Swept though nothing changed: one record first, to see whether `Total` did.
    Probe,
}

/// Reads a customer's history again, noting the credit it is read for.
async fn reread(
    ctx: &Context,
    uin: u64,
    credit: Option<f64>,
    last: Option<&AllocationRow>,
    read: Read,
    page_size: &AtomicU64,
    now: f64,
) -> Result<AllocationRow, Error> {
    let unchanged = match (read, last) {
        (Read::Probe, Some(last)) => probe(ctx, uin, last).await?,
        _ => None,
    };
    let row = match unchanged {
        Some(row) => row,
        None => summarise(ctx, uin, page_size).await?,
    };
    Ok(AllocationRow {
        credit_seen: credit,
        read_at: Some(now),
        ..row
    })
}

impl Collected for AllocationsSnapshot {
    type By = Allocations;
}

/// Customers closest to running out of credit first: their top-ups matter most.
fn by_urgency(customers: &[CustomerRow]) -> Vec<&CustomerRow> {
    let share_left = |c: &CustomerRow| match (c.remaining, c.credit) {
        (Some(remaining), Some(credit)) if credit > 0.0 => remaining / credit,
        _ => f64::INFINITY,
    };
    let mut order: Vec<&CustomerRow> = customers.iter().collect();
    order.sort_by(|a, b| share_left(a).total_cmp(&share_left(b)).then(a.uin.cmp(&b.uin)));
    order
}

/// The last answer, if the history still has as many records as it had.
async fn probe(ctx: &Context, uin: u64, last: &AllocationRow) -> Result<Option<AllocationRow>, Error> {
    let first = history_page(ctx, uin, 1, 1).await?;
    let count = total(&first)?;
    Ok((count == last.count).then(|| last.clone()))
}

/// Reads a customer's history: page 1 at the page size served, and the last
/// page when there is more than one.
async fn summarise(ctx: &Context, uin: u64, page_size: &AtomicU64) -> Result<AllocationRow, Error> {
    let size = page_size.load(Ordering::Relaxed);
    let first = history_page(ctx, uin, 1, size).await?;
    let count = total(&first)?;
    let mut records = first.history;
    let served = records.len() as u64;
    if count > served {
        let size = if served > 0 && served < size {
            page_size.fetch_min(served, Ordering::Relaxed);
            tracing::debug!(
                uin,
                asked = size,
                served,
                "the API serves shorter allocation pages than asked"
            );
            served
        } else {
            size
        };
        let last_page = count.div_ceil(size);
        if last_page > 1 {
            let last = history_page(ctx, uin, last_page, size).await?.history;
            // No count from outside is a bound: a Total whose last page is
            // empty is more than the history holds, and no count.
            if last.is_empty() {
                return Err(Error::Incomplete(format!(
                    "QueryCreditAllocationHistory claims {count} records, but its page {last_page} is empty; the \
                     customer is read again next time"
                )));
            }
            records.extend(last);
        }
    }
    let newest = records
        .iter()
        .filter_map(|r| Some((ctx.timestamp(r.allocated_time.as_deref())?, r)))
        .fold(None::<(f64, &Allocation)>, |best, (t, r)| match best {
            Some((bt, _)) if bt >= t => best,
            _ => Some((t, r)),
        });
    Ok(AllocationRow {
        uin,
        count,
        last_time: newest.map(|(t, _)| t),
        last_credit: newest.and_then(|(_, r)| r.credit),
        credit_seen: None,
        read_at: None,
    })
}

/// A history's `Total`. Without it, the page's length would be a count made
/// up: that customer's read fails, alone (see [`crate::refresh::refusals`]).
fn total(page: &crate::api::actions::AllocationHistory) -> Result<u64, Error> {
    page.total.ok_or_else(|| {
        Error::Incomplete(
            "QueryCreditAllocationHistory answered without a Total; the customer is read again next time".into(),
        )
    })
}

async fn history_page(
    ctx: &Context,
    uin: u64,
    page: u64,
    page_size: u64,
) -> Result<crate::api::actions::AllocationHistory, Error> {
    let request = AllocationHistoryRequest {
        client_uin: uin,
        page,
        page_size,
    };
    Ok(ctx.call::<QueryCreditAllocationHistory>(&request).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_the_count_and_the_newest_allocation_of_each_customer() {
        let snapshot = AllocationsSnapshot {
            rows: vec![
                AllocationRow {
                    uin: 100,
                    count: 3,
                    last_time: Some(1_700_000_000.0),
                    last_credit: Some(250.75),
                    credit_seen: Some(1000.0),
                    read_at: Some(1_700_000_100.0),
                },
                // Never given credit: a count of 0 and nothing else.
                AllocationRow {
                    uin: 200,
                    count: 0,
                    ..Default::default()
                },
            ],
        };
        let text = exposition(&METRICS, &snapshot, "allocations");
        for line in [
            "tencentcloud_partner_customer_credit_allocations{account=\"a\",customer_uin=\"100\"} 3.0\n",
            "tencentcloud_partner_customer_credit_allocations{account=\"a\",customer_uin=\"200\"} 0.0\n",
            "tencentcloud_partner_customer_credit_last_allocation_timestamp_seconds{account=\"a\",customer_uin=\"100\"} 1700000000.0\n",
            "tencentcloud_partner_customer_credit_last_allocation_usd{account=\"a\",customer_uin=\"100\"} 250.75\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(text.matches("customer_uin=\"200\"").count(), 1, "{text}");
    }
}
