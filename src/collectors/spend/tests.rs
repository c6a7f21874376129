//! The spend collector's plan of calls, its week and its allowance.

use super::*;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, DATE).unwrap()
}

fn customer(uin: u64, remaining: f64) -> CustomerRow {
    CustomerRow {
        uin,
        remaining: Some(remaining),
        ..Default::default()
    }
}

fn week_of(uin: u64, today: NaiveDate, settled: bool) -> SpendRow {
    SpendRow {
        uin,
        today_read_at: Some(0.0),
        remaining_seen: Some(5.0),
        days: (1..=WEEK)
            .map(|back| SpendDay {
                date: today - Days::new(back),
                cost: back as f64 / 10.0,
                settled: settled || back > 1,
            })
            .collect(),
        ..SpendRow::default()
    }
}

#[test]
fn yesterday_comes_first_for_everyone_then_today_then_the_older_days() {
    let today = day("2026-12-06");
    let (a, b) = (customer(1, 50.0), customer(2, 5.0));
    let mut customers = vec![&a, &b];
    by_credit_left(&mut customers);
    let (due, moved) = plan(&customers, &HashMap::new(), today, 100.0, 3240.0, 10, usize::MAX);
    assert_eq!(moved, 0);
    assert_eq!(
        due[..2],
        [Read::Day(2, day("2026-12-05")), Read::Day(1, day("2026-12-05"))]
    );
    assert_eq!(
        due[2..4],
        [Read::Today(2, today, Some(5.0)), Read::Today(1, today, Some(50.0))]
    );
    assert_eq!(due[4], Read::Day(2, day("2026-12-04")));
    assert_eq!(due.len(), 4 + 2 * 6);
    assert_eq!(
        plan(&customers, &HashMap::new(), today, 100.0, 3240.0, 10, 3).0.len(),
        3
    );
}

#[test]
fn a_settled_week_costs_only_today_when_stale_or_moved() {
    let today = day("2026-12-06");
    let (a, b) = (customer(1, 5.0), customer(2, 4.0));
    let rows = HashMap::from([(1, week_of(1, today, true)), (2, week_of(2, today, true))]);
    let customers = vec![&b, &a];
    // Fresh, and customer 2's credit moved (4 against 5 seen): one re-read.
    let (due, moved) = plan(&customers, &rows, today, 100.0, 3240.0, 10, usize::MAX);
    assert_eq!((due, moved), (vec![Read::Today(2, today, Some(4.0))], 1));
    // No allowance left: nothing.
    assert!(
        plan(&customers, &rows, today, 100.0, 3240.0, 0, usize::MAX)
            .0
            .is_empty()
    );
    // Stale: both, without allowance.
    assert_eq!(plan(&customers, &rows, today, 4000.0, 3240.0, 0, usize::MAX).0.len(), 2);
    // The day before yesterday read only once is read again, settled.
    let mut unsettled = rows.clone();
    unsettled.get_mut(&1).unwrap().days[1].settled = false;
    let (due, _) = plan(&customers, &unsettled, today, 100.0, 3240.0, 0, usize::MAX);
    assert_eq!(due, vec![Read::Day(1, day("2026-12-04"))]);
}

#[test]
fn the_week_is_exported_only_whole_and_never_before_june_2025() {
    let today = day("2026-12-06");
    let mut row = week_of(7, today, true);
    let whole = snapshot(today, None, &HashMap::from([(7, row.clone())]));
    assert_eq!(whole.rows[0].last_7_days, Some(2.8));
    assert_eq!(whole.rows[0].yesterday, Some(0.1));
    row.days.pop();
    let partial = snapshot(today, None, &HashMap::from([(7, row)]));
    assert_eq!(partial.rows[0].last_7_days, None);
    assert_eq!(partial.rows[0].yesterday, Some(0.1));
    // 2025-06-03: five days of its week cannot be asked for.
    let early = day("2025-06-03");
    let (due, _) = plan(&[&customer(1, 1.0)], &HashMap::new(), early, 0.0, 1.0, 0, usize::MAX);
    assert_eq!(
        due,
        vec![
            Read::Day(1, day("2025-06-02")),
            Read::Today(1, early, Some(1.0)),
            Read::Day(1, day("2025-06-01"))
        ]
    );
}

#[test]
fn a_new_day_forgets_today_and_the_day_out_of_the_week() {
    let today = day("2026-12-06");
    let mut rows = HashMap::from([(1, week_of(1, today, true))]);
    rows.get_mut(&1).unwrap().today = Some(3.0);
    turn_day(&mut rows, today + Days::new(1));
    let row = &rows[&1];
    assert_eq!((row.today, row.today_read_at), (None, None));
    assert_eq!(row.days.len(), 6, "the 7th day back fell out");
}

#[test]
fn the_allowance_earns_two_a_second_up_to_an_hours() {
    let mut allowance = Allowance::default();
    assert_eq!(allowance.available(0.0), 7200);
    allowance.spend(7200);
    assert_eq!(allowance.available(10.0), 20);
    assert_eq!(allowance.available(1e9), 7200);
}

#[test]
fn a_week_is_read_once_every_day_is_in_and_settled() {
    let today = day("2026-12-06");
    assert!(
        week_read(&week_of(1, today, false), today),
        "yesterday need not be settled"
    );
    let mut row = week_of(1, today, true);
    row.days[3].settled = false;
    assert!(!week_read(&row, today));
    row.days.remove(3);
    assert!(!week_read(&row, today));
    assert!(
        week_read(&SpendRow::default(), day("2025-06-01")),
        "no day can be asked for"
    );
}
