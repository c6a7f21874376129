//! The generated dataset: its shape, its balances and what spending does to it.

use super::*;

#[test]
fn generation_is_deterministic_and_shaped() {
    let shape = Shape {
        customers: 120,
        vouchers_per_customer: 2.0,
        seed: 1,
    };
    let (a, b) = (Dataset::generate(shape), Dataset::generate(shape));
    assert_eq!(a.customers, b.customers);
    assert_eq!(a.customers.len(), 120);
    assert!(a.customers.values().any(|c| c.allocations.len() > 100));
    assert!(
        a.customers
            .values()
            .any(|c| c.remaining_cents == 0 && c.credit_cents > 0)
    );
    assert!(!a.vouchers.is_empty());
    assert!(a.partner_total_cents > a.allocated_cents());
}

#[test]
fn drift_keeps_balances_non_negative() {
    let mut data = Dataset::generate(Shape {
        customers: 50,
        vouchers_per_customer: 2.0,
        seed: 2,
    });
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..200 {
        data.drift(&mut rng, base_time());
    }
    assert!(
        data.customers
            .values()
            .all(|c| c.remaining_cents >= 0 && c.remaining_cents <= c.credit_cents)
    );
    assert!(data.vouchers.values().all(|v| v.remaining_cents >= 0));
}

#[test]
fn spending_bills_the_month_and_past_the_credit_means_arrears() {
    let mut data = Dataset::generate(Shape {
        customers: 10,
        vouchers_per_customer: 0.0,
        seed: 4,
    });
    let uin = data
        .customers
        .values()
        .find(|c| c.remaining_cents > 1_000 && c.account_status == 0)
        .unwrap()
        .uin;
    let before = data.customers[&uin].clone();
    let month = month_of(base_time());
    data.spend(uin, 1_000, base_time());
    let after = &data.customers[&uin];
    assert_eq!(after.month_cents(&month), before.month_cents(&month) + 1_000);
    assert_eq!(
        after.day_cents(base_time().date()),
        before.day_cents(base_time().date()) + 1_000
    );
    assert_eq!(after.remaining_cents, before.remaining_cents - 1_000);
    assert_eq!(after.account_status, 0);
    data.spend(uin, after.remaining_cents + 1, base_time());
    let after = &data.customers[&uin];
    assert_eq!((after.remaining_cents, after.account_status), (0, 2));
}
