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
//! The API does not document the order of the records, so the newest is found
//! without assuming one, in at most two calls per customer:
//! 1. page 1 with one record gives `Total` and the first record; when `Total`
//!    is what it was last time, nothing changed and the last answer stands;
//! 2. otherwise the last page of 100 records is read. With 100 records or fewer
//!    that is every record; with more, the history is sorted one way or the
//!    other, so the newest is the first record or on the last page.
//!
//! The largest page size is undocumented. When the last page does not hold
//! the records it should, the server serves fewer a page than asked: the
//! size it serves is learnt from page 1, which must then be full, and the
//! real last page is read. The size learnt is kept for every later customer.

use super::sweep::{Sweep, unix_now};
use super::{Collected, Collector, Context, Error};
use crate::api::actions::{Allocation, AllocationHistoryRequest, QueryCreditAllocationHistory};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::snapshot::{AllocationRow, AllocationsSnapshot, CustomerRow, CustomersSnapshot, Rows};
use futures::{StreamExt, TryStreamExt};
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
        let published = ctx.customers()?;
        let list = CustomersSnapshot::of(&published.snapshot).ok_or(Error::NoCustomers)?;
        let now = unix_now();
        let read_before = list
            .customers
            .iter()
            .filter_map(|c| Some((c.uin, self.known.get(&c.uin)?.read_at)));
        let swept = self
            .sweep
            .due(ctx.full_sweep(), ctx.interval(), now, list.customers.len(), read_before);
        let (known, page_size) = (&self.known, &self.page_size);
        let mut rows = Vec::with_capacity(list.customers.len());
        let mut read = Vec::new();
        for customer in by_urgency(&list.customers) {
            match known.get(&customer.uin) {
                Some(last) if last.credit_seen == customer.credit && !swept.contains(&customer.uin) => {
                    rows.push(last.clone())
                }
                last => read.push((customer.uin, customer.credit, last.cloned())),
            }
        }
        let fresh: Vec<AllocationRow> = futures::stream::iter(read)
            .map(|(uin, credit, last)| reread(ctx, uin, credit, last, page_size, now))
            .buffer_unordered(CUSTOMERS_IN_FLIGHT)
            .try_collect()
            .await?;
        rows.extend(fresh);
        rows.sort_by_key(|r| r.uin);
        self.known = rows.iter().map(|r| (r.uin, r.clone())).collect();
        Ok(AllocationsSnapshot { rows })
    }
}

/// Reads a customer's history again, noting the credit it is read for.
async fn reread(
    ctx: &Context,
    uin: u64,
    credit: Option<f64>,
    last: Option<AllocationRow>,
    page_size: &AtomicU64,
    now: f64,
) -> Result<AllocationRow, Error> {
    let row = summarise(ctx, uin, last.as_ref(), page_size).await?;
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

async fn summarise(
    ctx: &Context,
    uin: u64,
    known: Option<&AllocationRow>,
    page_size: &AtomicU64,
) -> Result<AllocationRow, Error> {
    let first = history_page(ctx, uin, 1, 1).await?;
    let count = first.total.unwrap_or(first.history.len() as u64);
    if let Some(known) = known.filter(|k| k.count == count) {
        return Ok(known.clone());
    }
    let mut records = first.history;
    if count > records.len() as u64 {
        let size = page_size.load(Ordering::Relaxed);
        let last_page = count.div_ceil(size);
        let last = history_page(ctx, uin, last_page, size).await?.history;
        let expected = count - (last_page - 1) * size;
        let short = last.len() as u64 != expected;
        // Page 1 must be full when there are more records than a page holds.
        let served = match (short, last_page) {
            (false, _) => size,
            (true, 1) => last.len() as u64,
            (true, _) => {
                let page_one = history_page(ctx, uin, 1, size).await?.history;
                let served = page_one.len() as u64;
                records.extend(page_one);
                served
            }
        };
        records.extend(last);
        if served > 0 && served < size && served < count {
            page_size.fetch_min(served, Ordering::Relaxed);
            tracing::debug!(
                uin,
                asked = size,
                served,
                "the API serves shorter allocation pages than asked"
            );
            let last_page = count.div_ceil(served);
            if last_page > 1 {
                records.extend(history_page(ctx, uin, last_page, served).await?.history);
            }
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
