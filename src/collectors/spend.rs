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
use crate::refresh::{Collected, Collector, Context, Error, Items, Key, Outcome, read_each};
use crate::snapshot::{CustomerRow, CustomersSnapshot, Rows, SpendDay, SpendRow, SpendSnapshot, StatusSnapshot};
use chrono::{Days, NaiveDate};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
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
            value: |r| r.yesterday,
        },
        Metric {
            name: "customer_cost_7d",
            help: "What the customer was billed in the 7 complete days before today, in USD; only once all 7 are known",
            unit: Unit::Usd,
            labels: customer,
            value: |r| r.last_7_days,
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

const DATE: &str = "%Y-%m-%d";

/// The first bill day the API answers for.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or_default()
}

/// Refreshes [`SpendSnapshot`], remembering every day read.
#[derive(Debug)]
pub struct Spend {
    /// The bill day of `rows`, `YYYY-MM-DD`.
    today: String,
    rows: HashMap<u64, SpendRow>,
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
    /// spends has no row yet or days of its week to read (a refresh cut
    /// short by its budget goes on at the next list, not an hour later), a
    /// customer's credit moved, or a customer it has a row for left or never
    /// spent.
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
        today.format(DATE).to_string() != self.today
            || self
                .rows
                .keys()
                .any(|uin| never_spent.contains(uin) || !listed.contains(uin))
            || spenders(&list.customers, &never_spent).any(|c| match self.rows.get(&c.uin) {
                None => true,
                Some(row) => row.remaining_seen != c.remaining || !week_read(row, today),
            })
    }

    /// Starts from the snapshot served: every day in it is kept.
    fn start(previous: Option<&SpendSnapshot>) -> Self {
        let (today, rows) = previous.map_or_else(Default::default, |p| {
            (p.today.clone(), p.rows.iter().map(|r| (r.uin, r.clone())).collect())
        });
        Self {
            today,
            rows,
            allowance: Allowance::default(),
        }
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<SpendSnapshot, Error> {
        let customers = ctx.customers()?.snapshot.clone();
        let list = CustomersSnapshot::of(&customers).ok_or(Error::NoCustomers)?;
        let now_api = ctx.api_now();
        let today = now_api.date_naive();
        let today_start = today
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(now_api.timezone()).single())
            .map(|t| t.timestamp() as f64);
        let mut rows = std::mem::take(&mut self.rows);
        if today.format(DATE).to_string() != self.today {
            turn_day(&mut rows, today);
            if !self.today.is_empty() {
                // Nothing of the day before is shown as today's.
                ctx.publish_part(snapshot(today, today_start, &rows)).await;
            }
        }
        let never_spent = never_spent(ctx);
        let mut customers: Vec<&CustomerRow> = spenders(&list.customers, &never_spent).collect();
        by_credit_left(&mut customers);
        let listed: HashSet<u64> = customers.iter().map(|c| c.uin).collect();
        rows.retain(|uin, _| listed.contains(uin));
        let now = unix_now();
        let fresh_for = ctx.interval().as_secs_f64() * 0.9;
        // Twice an interval's calls: a first start of 10,000 customers
        // (80,000 calls, 67 min at 20/s) is one refresh.
        let budget = 2 * ctx.calls_per_interval::<DescribeCustomerBillDetailByDay>();
        let allowance = self.allowance.available(now);
        let (due, moved) = plan(&customers, &rows, today, now, fresh_for, allowance, budget);
        self.allowance.spend(moved);
        ctx.items_due::<DescribeCustomerBillDetailByDay>(due.len());
        let outcome = read_each(
            ctx,
            &mut rows,
            Items {
                due,
                in_flight: CALLS_IN_FLIGHT,
                key: Read::key,
            },
            |read| read_cost(ctx, read),
            |rows, outcome| {
                if let Outcome::Answered((read, Some(cost))) = outcome {
                    keep(rows, read, cost, today, now);
                }
            },
            |rows: &HashMap<u64, SpendRow>| snapshot(today, today_start, rows),
        )
        .await;
        let done = snapshot(today, today_start, &rows);
        (self.today, self.rows) = (today.format(DATE).to_string(), rows);
        outcome.map(|()| done)
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

/// A new bill day: yesterday's "today" is no longer today's, and a day
/// older than the week is dropped.
fn turn_day(rows: &mut HashMap<u64, SpendRow>, today: NaiveDate) {
    let oldest = today - Days::new(WEEK);
    for row in rows.values_mut() {
        row.today = None;
        row.today_read_at = None;
        row.days.retain(|d| d.date >= oldest && d.date < today);
    }
}

/// The calls of a refresh, in order, at most `budget`: yesterday of every
/// customer; today's figure where it is older than `fresh_for` seconds, or
/// the credit moved (at most `allowance` of those); the older days of the
/// week, customer by customer. Also says how much allowance was used.
fn plan(
    customers: &[&CustomerRow],
    rows: &HashMap<u64, SpendRow>,
    today: NaiveDate,
    now: f64,
    fresh_for: f64,
    allowance: usize,
    budget: usize,
) -> (Vec<Read>, usize) {
    let wanted = |back: u64| Some(today - Days::new(back)).filter(|d| *d >= first_day());
    let mut due = Vec::new();
    if let Some(yesterday) = wanted(1) {
        due.extend(
            customers
                .iter()
                .filter(|c| !rows.get(&c.uin).is_some_and(|r| has_day(r, yesterday)))
                .map(|c| Read::Day(c.uin, yesterday)),
        );
    }
    let mut moved = 0;
    for c in customers {
        let row = rows.get(&c.uin);
        let stale = row.and_then(|r| r.today_read_at).is_none_or(|at| now - at >= fresh_for);
        let credit_moved = row.is_some_and(|r| r.remaining_seen != c.remaining);
        if stale || (credit_moved && moved < allowance) {
            moved += usize::from(!stale);
            due.push(Read::Today(c.uin, today, c.remaining));
        }
    }
    for c in customers {
        let row = rows.get(&c.uin);
        for day in (2..=WEEK).filter_map(wanted) {
            // Every day from two days back is settled once read again.
            let settled = row.is_some_and(|r| r.days.iter().any(|d| d.settled && d.date == day));
            if !settled {
                due.push(Read::Day(c.uin, day));
            }
        }
    }
    due.truncate(budget);
    let moved_kept = moved.min(due.iter().filter(|r| matches!(r, Read::Today(..))).count());
    (due, moved_kept)
}

/// The bill days of the week before `today` that can be asked for.
fn week(today: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    (1..=WEEK)
        .map(move |back| today - Days::new(back))
        .filter(|d| *d >= first_day())
}

/// Whether every day of the week that can be asked for is read, and those
/// from two days back settled.
fn week_read(row: &SpendRow, today: NaiveDate) -> bool {
    week(today).all(|day| {
        row.days
            .iter()
            .any(|d| d.date == day && (d.settled || today - day <= chrono::TimeDelta::days(1)))
    })
}

fn has_day(row: &SpendRow, day: NaiveDate) -> bool {
    row.days.iter().any(|d| d.date == day)
}

/// Asks for one customer's cost on one day. A customer the API refuses is
/// refused alone (see `read_each`); a cost missing from the answer is no
/// value, never zero.
async fn read_cost(ctx: &Context, read: Read) -> Result<(Read, Option<f64>), Error> {
    let (Read::Day(uin, day) | Read::Today(uin, day, _)) = read;
    let request = BillByDayRequest {
        customer_uin: uin,
        date: day.format(DATE).to_string(),
    };
    let answer = ctx.call::<DescribeCustomerBillDetailByDay>(&request).await?;
    Ok((read, answer.total_cost))
}

/// Folds one answered read into the customer's row.
fn keep(rows: &mut HashMap<u64, SpendRow>, read: Read, cost: f64, today: NaiveDate, now: f64) {
    let (Read::Day(uin, _) | Read::Today(uin, _, _)) = read;
    let row = rows.entry(uin).or_insert_with(|| SpendRow {
        uin,
        ..SpendRow::default()
    });
    match read {
        Read::Today(_, _, remaining) => {
            row.today = Some(cost);
            row.today_read_at = Some(now);
            row.remaining_seen = remaining;
        }
        Read::Day(_, day) => {
            row.days.retain(|d| d.date != day);
            row.days.push(SpendDay {
                date: day,
                cost,
                settled: today - day > chrono::TimeDelta::days(1),
            });
            row.days.sort_by_key(|d| std::cmp::Reverse(d.date));
        }
    }
}

/// The rows known, with yesterday's and the week's totals worked out: the
/// week only when all 7 days are known.
fn snapshot(today: NaiveDate, today_start: Option<f64>, rows: &HashMap<u64, SpendRow>) -> SpendSnapshot {
    let cost_on = |row: &SpendRow, back: u64| {
        let day = today - Days::new(back);
        row.days.iter().find(|d| d.date == day).map(|d| d.cost)
    };
    let mut rows: Vec<SpendRow> = rows
        .values()
        .map(|row| SpendRow {
            yesterday: cost_on(row, 1),
            last_7_days: (1..=WEEK)
                .map(|back| cost_on(row, back))
                .sum::<Option<f64>>()
                .map(to_the_bill),
            ..row.clone()
        })
        .collect();
    rows.sort_by_key(|r| r.uin);
    SpendSnapshot {
        today: today.format(DATE).to_string(),
        today_start,
        rows,
    }
}

/// A sum of costs to the 8 decimals Tencent's bills carry, so that adding
/// floats leaves no trace (`0.30000000000000004`).
fn to_the_bill(sum: f64) -> f64 {
    (sum * 1e8).round() / 1e8
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
