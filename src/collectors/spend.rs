//! `spend`: what each customer spent, day by day, from
//! DescribeCustomerBillDetailByDay (one customer and one bill day a call, 20
//! a second): today so far, yesterday, and the 7 complete days before today,
//! for a runway on the customer's real pace rather than a month's average.
//!
//! Days are the API's, by its clock as the client knows it, in
//! `--api.timezone` (UTC+8, Tencent's bill day, by default); none before
//! 2025-06-01 can be asked for, and such a day is unknown, never zero.
//!
//! - A complete day is read once, and once more on the day after (late
//!   settlement); then it is kept, across refreshes and, through the
//!   snapshot, across restarts: a restart reads no day it has.
//! - A refresh reads yesterday for every customer first, least credit left
//!   first, then today's figure, then the older days, customer by customer,
//!   so that those closest to running out get their 7 days first. What has
//!   been read is published as the refresh goes.
//! - Today's figure is read for every customer once per interval
//!   (`--refresh.spend-interval`), and sooner for a customer whose credit
//!   moved, within an allowance of [`MOVED_PER_SECOND`]: the steady state stays
//!   within a quarter of the action's quota.
//! - A customer the status collector says never spent (`HasExpense` 0) is
//!   not read and not exported.

use crate::api::actions::{BillByDayRequest, DescribeCustomerBillDetailByDay};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit, no_labels};
use crate::refresh::sweep::unix_now;
use crate::refresh::{Collected, Collector, Context, Error, HandOver, Items, Key, Outcome, read_each};
use crate::snapshot::{CustomerRow, CustomersSnapshot, Rows, SpendRow, SpendSnapshot, StatusSnapshot};
use chrono::{Days, NaiveDate};
use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

/// What the spend collector exports: the day, and each customer's cost
/// today, yesterday and in the 7 days before today.
pub const METRICS: Table<SpendSnapshot, SpendRow> = Table {
    whole: &[Metric {
        name: "spend_today_start_timestamp",
        help: "Start of the bill day the customers' costs today are for, in the API's time zone",
        unit: Unit::Seconds,
        labels: no_labels,
        value: |s| s.today_start,
    }],
    rows: |s| &s.rows,
    each: &[
        Metric {
            name: "customer_cost_today",
            help: "What Tencent has billed the customer today so far (DescribeCustomerBillDetailByDay) in USD",
            unit: Unit::Usd,
            labels: customer,
            value: |r| r.today,
        },
        Metric {
            name: "customer_cost_yesterday",
            help: "What the customer was billed yesterday, a complete bill day, in USD",
            unit: Unit::Usd,
            labels: customer,
            value: SpendRow::yesterday,
        },
        Metric {
            name: "customer_cost_7d",
            help: "What the customer was billed in the 7 complete days before today, in USD; only once all 7 are known",
            unit: Unit::Usd,
            labels: customer,
            value: SpendRow::last_7_days,
        },
    ],
};

fn customer(r: &SpendRow, _: Options) -> Labels<'_> {
    vec![("customer_uin", Cow::Owned(r.uin.to_string()))]
}

/// Calls at once; the rate limiter (20/s) paces them.
const CALLS_IN_FLIGHT: usize = 8;

/// The complete days before today that make the week.
const WEEK: u64 = 7;

/// Re-reads a second of today's figure for customers whose credit moved,
/// on average, beyond the one per interval: a tenth of the action's 20/s.
const MOVED_PER_SECOND: f64 = 2.0;

/// The allowance saved up at most: an hour's.
const MOVED_SAVED: f64 = 3600.0 * MOVED_PER_SECOND;

/// The first bill day the API answers for.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or_default()
}

/// Refreshes [`SpendSnapshot`], remembering every day read.
#[derive(Debug)]
pub struct Spend {
    /// Every day read, as last published: the rows are handed over to each
    /// part published, not copied (see [`HandOver`]).
    known: SpendSnapshot,
    allowance: Allowance,
}

impl Collector for Spend {
    type Rows = SpendSnapshot;
    type Row = SpendRow;
    const METRICS: Table<SpendSnapshot, SpendRow> = METRICS;
    const ABOUT: &'static str = "the customers' daily spend";
    const INTERVAL: Duration = Duration::from_secs(60 * 60);
    const NEEDS_CUSTOMERS: bool = true;

    /// A new customer list concerns it when the day turned, a customer who
    /// spends has days of its week to read (a refresh cut short by its
    /// budget goes on at the next list, not an hour later), a customer's
    /// credit moved, or a customer it has a row for left or never spent.
    fn concerned(&self, ctx: &Context) -> bool {
        let Some(list) = ctx.customers().ok() else {
            return false;
        };
        let Some(list) = CustomersSnapshot::of(&list.snapshot) else {
            return false;
        };
        let never_spent = never_spent(ctx);
        let listed: HashSet<u64> = list.customers.iter().map(|c| c.uin).collect();
        let today = ctx.api_now().date_naive();
        let rows = &self.known.rows;
        self.known.today != Some(today)
            || rows
                .iter()
                .any(|r| never_spent.contains(&r.uin) || !listed.contains(&r.uin))
            || spenders(&list.customers, &never_spent).any(|c| match row_of(rows, c.uin) {
                None => true,
                Some(row) => row.remaining_seen != c.remaining || !week_read(row, today),
            })
    }

    /// Starts from the snapshot served: every day in it is kept.
    fn start(previous: Option<&SpendSnapshot>) -> Self {
        Self {
            known: previous.cloned().unwrap_or_default(),
            allowance: Allowance::default(),
        }
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<SpendSnapshot, Error> {
        let customers = ctx.customers()?.snapshot.clone();
        let list = CustomersSnapshot::of(&customers).ok_or(Error::NoCustomers)?;
        let now_api = ctx.api_now();
        let today = now_api.date_naive();
        let mut state = std::mem::take(&mut self.known);
        if state.today.is_none() {
            // A refresh dropped past its deadline took the days with it:
            // every part it published is served, and they are in it.
            state = served(ctx).unwrap_or_default();
        }
        if state.today != Some(today) {
            let turned = state.today.is_some();
            turn_day(&mut state, today);
            state.today_start = today
                .and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(now_api.timezone()).single())
                .map(|t| t.timestamp() as f64);
            if turned {
                // Nothing of the day before is shown as today's.
                ctx.publish_part(state.clone()).await;
            }
        }
        let never_spent = never_spent(ctx);
        let mut customers: Vec<&CustomerRow> = spenders(&list.customers, &never_spent).collect();
        with_a_row_each(&mut state.rows, &customers);
        by_credit_left(&mut customers);
        let now = unix_now();
        let fresh_for = ctx.interval().as_secs_f64() * 0.9;
        // Twice an interval's calls: a first start of 10,000 customers
        // (80,000 calls, 67 min at 20/s) is one refresh.
        let budget = 2 * ctx.calls_per_interval::<DescribeCustomerBillDetailByDay>();
        let allowance = self.allowance.available(now);
        let (due, moved) = plan(&customers, &state.rows, today, now, fresh_for, allowance, budget);
        self.allowance.spend(moved);
        ctx.items_due::<DescribeCustomerBillDetailByDay>(due.len());
        let outcome = read_each(
            ctx,
            &mut state,
            Items {
                due,
                in_flight: CALLS_IN_FLIGHT,
                key: Read::key,
            },
            |read| read_cost(ctx, read),
            |state: &mut SpendSnapshot, outcome| {
                if let Outcome::Answered((read, Some(cost))) = outcome {
                    keep(&mut state.rows, read, cost, today, now);
                }
            },
            HandOver,
        )
        .await;
        self.known = state.clone();
        outcome.map(|()| state)
    }
}

impl Collected for SpendSnapshot {
    type By = Spend;
}

/// One call: a customer's complete day, or its figure so far today (with
/// its credit left when asked, to notice when that moves).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Read {
    Day(u64, NaiveDate),
    Today(u64, NaiveDate, Option<f64>),
}

impl Read {
    fn key(&self) -> Key {
        let (Read::Day(uin, day) | Read::Today(uin, day, _)) = *self;
        Key {
            customer: uin,
            id: day.format("%Y%m%d").to_string().parse().unwrap_or_default(),
            again: false,
        }
    }
}

/// The customers that may have spent: all but those the status collector
/// says never did.
fn spenders<'c>(
    customers: &'c [CustomerRow],
    never_spent: &'c HashSet<u64>,
) -> impl Iterator<Item = &'c CustomerRow> + 'c {
    customers.iter().filter(|c| !never_spent.contains(&c.uin))
}

/// The spend snapshot served, if any.
fn served(ctx: &Context) -> Option<SpendSnapshot> {
    let published = ctx.served::<SpendSnapshot>()?;
    SpendSnapshot::of(&published.snapshot).cloned()
}

/// The customers whose `HasExpense` is 0 in the status snapshot served.
fn never_spent(ctx: &Context) -> HashSet<u64> {
    let Some(served) = ctx.served::<StatusSnapshot>() else {
        return HashSet::new();
    };
    StatusSnapshot::of(&served.snapshot).map_or_else(HashSet::new, |status| {
        status
            .rows
            .iter()
            .filter(|r| r.has_expense == Some(0))
            .map(|r| r.uin)
            .collect()
    })
}

/// Least credit left first.
fn by_credit_left(customers: &mut [&CustomerRow]) {
    let left = |c: &CustomerRow| c.remaining.unwrap_or(f64::INFINITY);
    customers.sort_by(|a, b| left(a).total_cmp(&left(b)).then(a.uin.cmp(&b.uin)));
}

/// The row of `uin` in rows sorted by UIN.
fn row_of(rows: &[SpendRow], uin: u64) -> Option<&SpendRow> {
    rows.binary_search_by_key(&uin, |r| r.uin).ok().map(|i| &rows[i])
}

/// Keeps the rows of `customers` only, with an empty row for each that has
/// none yet, sorted by UIN: the reads then find their row without moving
/// the others.
fn with_a_row_each(rows: &mut Vec<SpendRow>, customers: &[&CustomerRow]) {
    let listed: HashSet<u64> = customers.iter().map(|c| c.uin).collect();
    rows.retain(|r| listed.contains(&r.uin));
    let known: HashSet<u64> = rows.iter().map(|r| r.uin).collect();
    rows.extend(listed.difference(&known).map(|&uin| SpendRow {
        uin,
        ..SpendRow::default()
    }));
    rows.sort_unstable_by_key(|r| r.uin);
    rows.shrink_to_fit();
}

/// A new bill day: yesterday's "today" is no longer today's, each day moves
/// back as many places as days passed, and a day older than the week is
/// dropped.
fn turn_day(state: &mut SpendSnapshot, today: NaiveDate) {
    let passed = state.today.map(|before| (today - before).num_days());
    state.today = Some(today);
    for row in &mut state.rows {
        row.today = None;
        row.today_read_at = None;
        match passed
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n < row.days.len())
        {
            Some(n) => {
                row.days.rotate_right(n);
                row.days[..n].fill(None);
                row.settled = (row.settled << n) & 0x7f;
            }
            // A week or more passed, or the clock went back: nothing known
            // is known to be in this week.
            None => (row.days, row.settled) = Default::default(),
        }
    }
}

/// The calls of a refresh, in order, at most `budget`: yesterday of every
/// customer; today's figure where it is older than `fresh_for` seconds, or
/// the credit moved (at most `allowance` of those); the older days of the
/// week, customer by customer. Also says how much allowance was used.
fn plan(
    customers: &[&CustomerRow],
    rows: &[SpendRow],
    today: NaiveDate,
    now: f64,
    fresh_for: f64,
    allowance: usize,
    budget: usize,
) -> (Vec<Read>, usize) {
    let mut due = Vec::new();
    if let Some(yesterday) = day_back(today, 1) {
        due.extend(
            customers
                .iter()
                .filter(|c| row_of(rows, c.uin).is_none_or(|r| r.days[0].is_none()))
                .map(|c| Read::Day(c.uin, yesterday)),
        );
    }
    let mut moved = 0;
    for c in customers {
        let row = row_of(rows, c.uin);
        let stale = row.and_then(|r| r.today_read_at).is_none_or(|at| now - at >= fresh_for);
        let credit_moved = row.is_some_and(|r| r.remaining_seen != c.remaining);
        if stale || (credit_moved && moved < allowance) {
            moved += usize::from(!stale);
            due.push(Read::Today(c.uin, today, c.remaining));
        }
    }
    for c in customers {
        let row = row_of(rows, c.uin);
        for back in 2..=WEEK {
            // Every day from two days back is settled once read again.
            if let Some(day) = day_back(today, back)
                && !row.is_some_and(|r| settled(r, back))
            {
                due.push(Read::Day(c.uin, day));
            }
        }
    }
    due.truncate(budget);
    let moved_kept = moved.min(due.iter().filter(|r| matches!(r, Read::Today(..))).count());
    (due, moved_kept)
}

/// The bill day `back` days before `today`, if the API answers for it.
fn day_back(today: NaiveDate, back: u64) -> Option<NaiveDate> {
    Some(today - Days::new(back)).filter(|d| *d >= first_day())
}

/// Whether the day `back` days before today is read and settled.
fn settled(row: &SpendRow, back: u64) -> bool {
    let i = (back - 1) as usize;
    row.days[i].is_some() && row.settled & (1 << i) != 0
}

/// Whether every day of the week that can be asked for is read, and those
/// from two days back settled.
fn week_read(row: &SpendRow, today: NaiveDate) -> bool {
    (1..=WEEK)
        .filter(|back| day_back(today, *back).is_some())
        .all(|back| match back {
            1 => row.days[0].is_some(),
            _ => settled(row, back),
        })
}

/// Asks for one customer's cost on one day. A customer the API refuses is
/// refused alone (see `read_each`); a cost missing from the answer is no
/// value, never zero.
async fn read_cost(ctx: &Context, read: Read) -> Result<(Read, Option<f64>), Error> {
    let (Read::Day(uin, day) | Read::Today(uin, day, _)) = read;
    let request = BillByDayRequest {
        customer_uin: uin,
        date: day.format("%Y-%m-%d").to_string(),
    };
    let answer = ctx.call::<DescribeCustomerBillDetailByDay>(&request).await?;
    Ok((read, answer.total_cost))
}

/// Folds one answered read into the customer's row.
fn keep(rows: &mut [SpendRow], read: Read, cost: f64, today: NaiveDate, now: f64) {
    let (Read::Day(uin, _) | Read::Today(uin, _, _)) = read;
    let Ok(i) = rows.binary_search_by_key(&uin, |r| r.uin) else {
        return;
    };
    let row = &mut rows[i];
    match read {
        Read::Today(_, _, remaining) => {
            row.today = Some(cost);
            row.today_read_at = Some(now);
            row.remaining_seen = remaining;
        }
        Read::Day(_, day) => {
            let Some(i) = usize::try_from((today - day).num_days() - 1)
                .ok()
                .filter(|i| *i < row.days.len())
            else {
                return;
            };
            row.days[i] = Some(cost);
            // Read on the day after the day after: settled.
            if i >= 1 {
                row.settled |= 1 << i;
            }
        }
    }
}

/// What is left of the allowance for re-reading today's figure of customers
/// whose credit moved.
#[derive(Debug)]
struct Allowance {
    saved: f64,
    at: Option<f64>,
}

impl Default for Allowance {
    fn default() -> Self {
        Self {
            saved: MOVED_SAVED,
            at: None,
        }
    }
}

impl Allowance {
    fn available(&mut self, now: f64) -> usize {
        let earned = self.at.map_or(0.0, |at| (now - at).max(0.0) * MOVED_PER_SECOND);
        self.saved = (self.saved + earned).min(MOVED_SAVED);
        self.at = Some(now);
        self.saved as usize
    }

    fn spend(&mut self, used: usize) {
        self.saved = (self.saved - used as f64).max(0.0);
    }
}

#[cfg(test)]
mod tests;
