//! `allocations`: how often and how recently each customer was given credit,
//! from QueryCreditAllocationHistory, one customer at a time.
//!
//! The API does not document the order of the records, so the newest is found
//! without assuming one, in at most two calls per customer:
//! 1. page 1 with one record gives `Total` and the first record; when `Total`
//!    is what it was last time, nothing changed and the last answer stands;
//! 2. otherwise the last page of 100 records is read. With 100 records or fewer
//!    that is every record; with more, the history is sorted one way or the
//!    other, so the newest is the first record or on the last page.

use super::customers::CustomerRow;
use super::{Collector, Context, Error, Kind, Snapshot};
use crate::api::actions::{Allocation, AllocationHistoryRequest, QueryCreditAllocationHistory};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Records per page when reading the last page of a history.
const PAGE_SIZE: u64 = 100;
/// Customers whose histories are read at once; the rate limiter paces them.
const CUSTOMERS_IN_FLIGHT: usize = 8;

/// One customer's allocation summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AllocationRow {
    pub uin: u64,
    /// How many allocations the customer has had.
    pub count: u64,
    /// Unix seconds of the newest allocation.
    pub last_time: Option<f64>,
    /// USD of the newest allocation.
    pub last_credit: Option<f64>,
}

/// The allocation summary of every customer in the customer list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AllocationsSnapshot {
    pub rows: Vec<AllocationRow>,
}

/// Refreshes [`AllocationsSnapshot`], remembering each customer's last answer.
#[derive(Debug, Default)]
pub struct Allocations {
    known: HashMap<u64, AllocationRow>,
}

impl Allocations {
    /// Starts from a snapshot restored from disk: customers whose number of
    /// allocations has not changed since then cost one call, not two.
    pub fn seeded(snapshot: &AllocationsSnapshot) -> Self {
        Self {
            known: snapshot.rows.iter().map(|r| (r.uin, r.clone())).collect(),
        }
    }
}

impl Collector for Allocations {
    const KIND: Kind = Kind::Allocations;
    const NEEDS_CUSTOMERS: bool = true;

    async fn refresh(&mut self, ctx: &Context) -> Result<Snapshot, Error> {
        let published = ctx.customers()?;
        let super::Snapshot::Customers(list) = &*published.snapshot else {
            return Err(Error::NoCustomers);
        };
        let known = &self.known;
        let rows: Vec<AllocationRow> = futures::stream::iter(by_urgency(&list.customers))
            .map(|uin| summarise(ctx, uin, known.get(&uin)))
            .buffer_unordered(CUSTOMERS_IN_FLIGHT)
            .try_collect()
            .await?;
        self.known = rows.iter().map(|r| (r.uin, r.clone())).collect();
        let mut rows = rows;
        rows.sort_by_key(|r| r.uin);
        Ok(Snapshot::Allocations(AllocationsSnapshot { rows }))
    }
}

/// Customers closest to running out of credit first: their top-ups matter most.
fn by_urgency(customers: &[CustomerRow]) -> Vec<u64> {
    let mut order: Vec<(f64, u64)> = customers
        .iter()
        .map(|c| {
            let share_left = match (c.remaining, c.credit) {
                (Some(remaining), Some(credit)) if credit > 0.0 => remaining / credit,
                _ => f64::INFINITY,
            };
            (share_left, c.uin)
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, uin)| uin).collect()
}

async fn summarise(ctx: &Context, uin: u64, known: Option<&AllocationRow>) -> Result<AllocationRow, Error> {
    let request = |page, page_size| AllocationHistoryRequest {
        client_uin: uin,
        page,
        page_size,
    };
    let first = ctx.call::<QueryCreditAllocationHistory>(&request(1, 1)).await?;
    let count = first.total.unwrap_or(first.history.len() as u64);
    if let Some(known) = known.filter(|k| k.count == count) {
        return Ok(known.clone());
    }
    let mut records = first.history;
    if count > records.len() as u64 {
        let last_page = count.div_ceil(PAGE_SIZE);
        let last = ctx
            .call::<QueryCreditAllocationHistory>(&request(last_page, PAGE_SIZE))
            .await?;
        records.extend(last.history);
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
    })
}
