//! The simulated partner's data: customers, their credit and allocation
//! history, their vouchers. Amounts are kept in integer cents, so the truth a
//! test compares against is exact and the API's floats are derived from it.

use chrono::{Datelike, Duration as Days, NaiveDate, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

/// Tencent's time string format (no zone).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Integer cents as the API's USD float.
pub fn usd(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// One credit allocation of a partner to a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub time: NaiveDateTime,
    pub credit_cents: i64,
    pub operator: String,
}

/// A customer bound to the partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub uin: u64,
    pub name: String,
    pub remark: String,
    pub customer_type: String,
    pub identify_type: i64,
    pub association_time: NaiveDateTime,
    pub recent_expiry: Option<NaiveDateTime>,
    pub credit_cents: i64,
    pub remaining_cents: i64,
    pub allocations: Vec<Allocation>,
    /// DescribeCustomerInfo's `AccountStatus`: 0 normal, 2 mandatory arrears.
    pub account_status: i64,
    /// QueryCustomersCredit's `Force`: 0 normal, 2 service forcibly suspended.
    pub force: i64,
    /// Personal data the API returns and the exporter must never show.
    pub phone: String,
    /// What the customer was billed each day, by UTC+8 bill day: a month's
    /// bill is the sum of its days.
    pub daily: BTreeMap<NaiveDate, i64>,
}

impl Customer {
    /// Whether it has spent anything: some of its credit, or a bill.
    pub fn has_expense(&self) -> bool {
        self.remaining_cents < self.credit_cents || self.daily.values().any(|&cents| cents > 0)
    }

    /// What it was billed in `month` (`YYYY-MM`), the sum of its days.
    pub fn month_cents(&self, month: &str) -> i64 {
        self.daily
            .iter()
            .filter(|(day, _)| month_of(day.and_time(chrono::NaiveTime::MIN)) == month)
            .map(|(_, cents)| cents)
            .sum()
    }

    /// What it was billed on `day`.
    pub fn day_cents(&self, day: NaiveDate) -> i64 {
        self.daily.get(&day).copied().unwrap_or(0)
    }
}

/// A voucher issued to a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Voucher {
    pub id: u64,
    pub customer_uin: u64,
    pub status: String,
    pub total_cents: i64,
    pub remaining_cents: i64,
    pub usage: String,
    pub payment_mode: String,
    pub product_scope: String,
    pub effective_time: NaiveDateTime,
    pub expire_time: NaiveDateTime,
    pub usage_records: u64,
}

/// Everything the simulated API answers from.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The partner's own credit line; allocated credit is the customers' sum.
    pub partner_total_cents: i64,
    pub customers: BTreeMap<u64, Customer>,
    pub vouchers: BTreeMap<u64, Voucher>,
    /// QueryVoucherPool's `AgentName`.
    pub agent_name: String,
    /// QueryVoucherPool's `AccountType`: 1 reseller, 2 distributor, 3 second-level reseller.
    pub account_type: i64,
    /// The partner's voucher quota; what is left is the quota less the vouchers issued.
    pub voucher_quota_cents: i64,
    /// A distributor's second-level resellers, by UIN.
    pub subagents: BTreeMap<u64, SubAgent>,
}

/// A second-level reseller of a distributor.
#[derive(Debug, Clone, PartialEq)]
pub struct SubAgent {
    pub uin: u64,
    pub name: String,
    pub remark: String,
    pub email: String,
    pub mobile: String,
    pub customers: u64,
    pub credit_cents: i64,
    pub remaining_credit_cents: i64,
    pub voucher_cents: i64,
    pub remaining_voucher_cents: i64,
}

/// Sizes of a generated dataset.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub customers: usize,
    /// Average vouchers per customer (0 for none).
    pub vouchers_per_customer: f64,
    pub seed: u64,
}

impl Shape {
    /// The demo partner: a few hundred customers and vouchers.
    pub fn demo() -> Self {
        Self {
            customers: 250,
            vouchers_per_customer: 2.0,
            seed: 7,
        }
    }
}

const FIRST_UIN: u64 = 100_000_000_000;
const FIRST_VOUCHER: u64 = 12_130_000;
const FIRST_SUBAGENT: u64 = 200_000_000_000;

/// 09:00 of the current day in UTC+8: generated expiries and histories lie
/// around today, so "expiring within 30 days" has examples whenever it runs.
fn base_time() -> NaiveDateTime {
    let today: NaiveDate = super::china_now().date();
    today.and_hms_opt(9, 0, 0).expect("09:00:00 is a valid time")
}

impl Dataset {
    /// A deterministic synthetic partner of the given shape.
    pub fn generate(shape: Shape) -> Self {
        let mut rng = StdRng::seed_from_u64(shape.seed);
        let mut data = Dataset::default();
        let mut next_voucher = FIRST_VOUCHER;
        for i in 0..shape.customers {
            let customer = generate_customer(&mut rng, FIRST_UIN + i as u64 * 7, i);
            let vouchers = if shape.vouchers_per_customer > 0.0 {
                rng.random_range(0..=(2.0 * shape.vouchers_per_customer).round() as u64)
            } else {
                0
            };
            for _ in 0..vouchers {
                let voucher = generate_voucher(&mut rng, next_voucher, customer.uin);
                data.vouchers.insert(voucher.id, voucher);
                next_voucher += 1;
            }
            data.customers.insert(customer.uin, customer);
        }
        data.partner_total_cents = data.allocated_cents() * 3 / 2 + 1_000_000;
        data.agent_name = "Simulated Partner Ltd".into();
        data.account_type = 2;
        data.voucher_quota_cents = data.issued_voucher_cents() * 5 / 4 + 500_000;
        for i in 0..(3 + shape.customers / 100) as u64 {
            let credit_cents = rng.random_range(1_000..=50_000) * 100;
            let voucher_cents = rng.random_range(100..=10_000) * 100;
            let subagent = SubAgent {
                uin: FIRST_SUBAGENT + i * 11,
                name: format!("reseller{i}@example.com"),
                remark: format!("second-level {i}"),
                email: format!("reseller{i}@example.com"),
                mobile: format!("+852 6{i:07}"),
                customers: rng.random_range(0..200),
                credit_cents,
                // One in four nearly out of credit, one in five of vouchers.
                remaining_credit_cents: if i % 4 == 1 {
                    credit_cents / 40
                } else {
                    credit_cents / 2
                },
                voucher_cents,
                remaining_voucher_cents: if i % 5 == 2 {
                    voucher_cents / 50
                } else {
                    voucher_cents * 3 / 4
                },
            };
            data.subagents.insert(subagent.uin, subagent);
        }
        data
    }

    /// Credit allocated to customers, in cents.
    pub fn allocated_cents(&self) -> i64 {
        self.customers.values().map(|c| c.credit_cents).sum()
    }

    /// The face value of every voucher issued, in cents.
    pub fn issued_voucher_cents(&self) -> i64 {
        self.vouchers.values().map(|v| v.total_cents).sum()
    }

    /// Credit the customers have left, in cents.
    pub fn customers_remaining_cents(&self) -> i64 {
        self.customers.values().map(|c| c.remaining_cents).sum()
    }

    /// Customers in the API's default order: newest association first.
    pub fn customers_by_association(&self, ascending: bool) -> Vec<&Customer> {
        let mut list: Vec<&Customer> = self.customers.values().collect();
        list.sort_by_key(|c| (c.association_time, c.uin));
        if !ascending {
            list.reverse();
        }
        list
    }

    /// Allocates `cents` more credit to a customer now, as the partner would;
    /// negative `cents` reclaim credit.
    pub fn allocate(&mut self, uin: u64, cents: i64, time: NaiveDateTime) {
        if let Some(customer) = self.customers.get_mut(&uin) {
            customer.credit_cents += cents;
            customer.remaining_cents += cents;
            customer.allocations.push(Allocation {
                time,
                credit_cents: cents,
                operator: "simulator".into(),
            });
        }
    }

    /// Charges `cents` to a voucher, as a customer's bill would: one more
    /// usage record, a lower balance, and `Used` once nothing is left.
    pub fn spend_voucher(&mut self, id: u64, cents: i64) {
        if let Some(voucher) = self.vouchers.get_mut(&id) {
            voucher.remaining_cents = (voucher.remaining_cents - cents).max(0);
            voucher.usage_records += 1;
            if voucher.remaining_cents == 0 {
                voucher.status = "Used".into();
            }
        }
    }

    /// Bills a customer `cents` at `time`, as its usage would: the month's
    /// bill grows and its remaining credit falls. What the credit cannot cover
    /// puts the customer in arrears (AccountStatus 2).
    pub fn spend(&mut self, uin: u64, cents: i64, time: NaiveDateTime) {
        if let Some(customer) = self.customers.get_mut(&uin) {
            *customer.daily.entry(time.date()).or_default() += cents;
            if cents > customer.remaining_cents {
                customer.account_status = 2;
            }
            customer.remaining_cents = (customer.remaining_cents - cents).max(0);
        }
    }

    /// Lets time pass: customers spend credit and vouchers, and now and then the
    /// partner tops a customer up. Keeps every balance non-negative.
    pub fn drift(&mut self, rng: &mut impl RngExt, now: NaiveDateTime) {
        let spending: Vec<(u64, i64)> = self
            .customers
            .values()
            .filter_map(|c| {
                let spends = c.remaining_cents > 0 && rng.random_bool(0.2);
                spends.then(|| (c.uin, rng.random_range(0..=c.credit_cents / 50 + 1)))
            })
            .collect();
        for (uin, cents) in spending {
            self.spend(uin, cents, now);
        }
        let uins: Vec<u64> = self.customers.keys().copied().collect();
        if !uins.is_empty() && rng.random_bool(0.3) {
            let uin = uins[rng.random_range(0..uins.len())];
            self.allocate(uin, rng.random_range(1..=500) * 100, now);
        }
        let spent: Vec<(u64, i64)> = self
            .vouchers
            .values()
            .filter_map(|v| {
                let used = v.status == "Issued" && v.remaining_cents > 0 && rng.random_bool(0.2);
                used.then(|| (v.id, rng.random_range(1..=v.total_cents / 20 + 1)))
            })
            .collect();
        for (id, cents) in spent {
            self.spend_voucher(id, cents);
        }
    }
}

/// The bill month of `time` (UTC+8), `YYYY-MM`.
pub fn month_of(time: NaiveDateTime) -> String {
    time.format("%Y-%m").to_string()
}

fn generate_customer(rng: &mut StdRng, uin: u64, index: usize) -> Customer {
    let association_time = base_time() - Days::minutes(rng.random_range(0..500_000)) - Days::seconds(index as i64);
    // Every 40th customer has a long history, so that finding the newest
    // allocation needs more than one page.
    let allocations = if index % 40 == 3 {
        rng.random_range(101..=260)
    } else {
        rng.random_range(0..=12)
    };
    let mut time = association_time;
    let mut history = Vec::with_capacity(allocations);
    for _ in 0..allocations {
        time += Days::minutes(rng.random_range(1..5_000));
        history.push(Allocation {
            time,
            credit_cents: rng.random_range(1..=2_000) * 100 + rng.random_range(0..100),
            operator: "PartnerTest Limited".into(),
        });
    }
    let credit_cents: i64 = history.iter().map(|a| a.credit_cents).sum();
    // A spread of states: untouched, half used, nearly exhausted, exhausted.
    let remaining_cents = match index % 10 {
        0 => 0,
        1 => credit_cents / 50,
        2 | 3 => credit_cents / 2,
        _ => credit_cents - rng.random_range(0..=credit_cents / 3),
    };
    // A third of what was used was billed this month; those in arrears ran
    // past their credit by up to a tenth of it.
    let in_arrears = remaining_cents == 0 && index.is_multiple_of(20);
    let this_month = (credit_cents - remaining_cents) / 3
        + if in_arrears {
            rng.random_range(1..=credit_cents / 10 + 1)
        } else {
            0
        };
    let remark = match index % 5 {
        0 => String::new(),
        // Remarks are free text; the exposition must escape these.
        1 => format!("shop \"{index}\" \\ east"),
        _ => format!("customer-{index}"),
    };
    Customer {
        uin,
        name: format!("user{index}@example.com"),
        remark,
        customer_type: if index.is_multiple_of(3) { "new" } else { "old" }.into(),
        identify_type: (index % 3) as i64,
        association_time,
        recent_expiry: (credit_cents > 0).then(|| base_time() + Days::days(rng.random_range(1..400))),
        credit_cents,
        remaining_cents,
        allocations: history,
        // Some of those who ran out are in arrears, a few are suspended.
        account_status: if in_arrears { 2 } else { 0 },
        force: if index % 50 == 7 { 2 } else { 0 },
        phone: format!("+852 5{index:07}"),
        daily: daily_costs(uin, this_month, index),
    }
}

/// How far back a generated customer's daily costs go: the 7 complete days
/// before today are known even on the 1st of a month.
const DAYS_OF_HISTORY: u64 = 40;

/// A customer's daily costs: `this_month` spread over this month's days
/// until today (today's share partial), and the days before this month at a
/// similar pace. Every 25th customer's yesterday is a spike, four usual
/// days more. A month's bill is the sum of its days, whatever they are.
/// Drawn from the customer's own generator, so that the rest of the dataset
/// does not depend on them.
fn daily_costs(uin: u64, this_month: i64, index: usize) -> BTreeMap<NaiveDate, i64> {
    let mut rng = StdRng::seed_from_u64(uin);
    let today = base_time().date();
    let month_days: Vec<NaiveDate> = today
        .iter_days()
        .rev()
        .take_while(|d| d.month() == today.month())
        .collect();
    let mut daily = BTreeMap::new();
    if this_month <= 0 {
        return daily;
    }
    // Weights: today counts a third of a day, so far.
    let weights: Vec<i64> = month_days
        .iter()
        .map(|d| if *d == today { 1 } else { 3 } * rng.random_range(2..=4))
        .collect();
    let total: i64 = weights.iter().sum();
    let mut left = this_month;
    for (day, weight) in month_days.iter().zip(&weights).skip(1) {
        let cents = this_month * weight / total;
        daily.insert(*day, cents);
        left -= cents;
    }
    daily.insert(today, left);
    let usual = (this_month * 3 / total).max(1);
    for back in month_days.len() as u64..DAYS_OF_HISTORY {
        let day = today - Days::days(back as i64);
        daily.insert(day, usual * rng.random_range(2..=4) / 3);
    }
    if index % 25 == 4 {
        let yesterday = today - Days::days(1);
        *daily.entry(yesterday).or_default() += usual * 4;
    }
    daily
}

fn generate_voucher(rng: &mut StdRng, id: u64, customer_uin: u64) -> Voucher {
    let total_cents = rng.random_range(1..=500) * 100;
    let status = ["Issued", "Issued", "Issued", "Used", "Expired", "Invalidated"][rng.random_range(0..6)];
    let remaining_cents = match status {
        "Used" => 0,
        "Issued" => rng.random_range(0..=total_cents),
        _ => rng.random_range(0..=total_cents / 2),
    };
    let effective_time = base_time() - Days::days(rng.random_range(0..200));
    // An ended one expired 20 days ago at most: within the default `--vouchers.ended-retention` (30 days).
    let earliest_expiry = if status == "Issued" {
        NaiveDateTime::MIN
    } else {
        base_time() - Days::days(20)
    };
    Voucher {
        id,
        customer_uin,
        status: status.into(),
        total_cents,
        remaining_cents,
        usage: ["ProductTrial", "CustomerOffer"][rng.random_range(0..2)].into(),
        payment_mode: ["AllPayment", "Prepaid", "Postpaid"][rng.random_range(0..3)].into(),
        product_scope: ["AllProducts", "SpecifyProducts", "SpecifyProductsBlacklist"][rng.random_range(0..3)].into(),
        effective_time,
        expire_time: (effective_time + Days::days(rng.random_range(30..400))).max(earliest_expiry),
        usage_records: rng.random_range(0..40),
    }
}

#[cfg(test)]
mod tests;
