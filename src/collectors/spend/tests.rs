//! The spend collector's plan of calls, its week and its allowance.

use super::*;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn customer(uin: u64, remaining: f64) -> CustomerRow {
    CustomerRow {
        uin,
        remaining: Some(remaining),
        ..Default::default()
    }
}

/// A week read whole, each day's cost a tenth of how far back it is;
/// yesterday settled too when `settled`.
fn week_of(uin: u64, settled: bool) -> SpendRow {
    SpendRow {
        uin,
        today_read_at: Some(0.0),
        remaining_seen: Some(5.0),
        days: std::array::from_fn(|i| Some((i + 1) as f64 / 10.0)),
        settled: if settled { 0x7f } else { 0x7e },
        ..SpendRow::default()
    }
}

#[test]
fn yesterday_comes_first_for_everyone_then_today_then_the_older_days() {
    let today = day("2026-12-06");
    let (a, b) = (customer(1, 50.0), customer(2, 5.0));
    let mut customers = vec![&a, &b];
    by_credit_left(&mut customers);
    let (due, moved) = plan(&customers, &[], today, 100.0, 3240.0, 10, usize::MAX);
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
    assert_eq!(plan(&customers, &[], today, 100.0, 3240.0, 10, 3).0.len(), 3);
}

#[test]
fn a_settled_week_costs_only_today_when_stale_or_moved() {
    let today = day("2026-12-06");
    let (a, b) = (customer(1, 5.0), customer(2, 4.0));
    let rows = [week_of(1, true), week_of(2, true)];
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
    unsettled[0].settled &= !0b10;
    let (due, _) = plan(&customers, &unsettled, today, 100.0, 3240.0, 0, usize::MAX);
    assert_eq!(due, vec![Read::Day(1, day("2026-12-04"))]);
}

#[test]
fn the_week_is_exported_only_whole_and_never_before_june_2025() {
    let mut row = week_of(7, true);
    assert_eq!(
        row.last_7_days(),
        Some(2.8),
        "0.1 + 0.2 + … + 0.7, to the bill's decimals"
    );
    assert_eq!(row.yesterday(), Some(0.1));
    row.days[6] = None;
    assert_eq!(row.last_7_days(), None);
    assert_eq!(row.yesterday(), Some(0.1));
    // 2025-06-03: five days of its week cannot be asked for.
    let early = day("2025-06-03");
    let (due, _) = plan(&[&customer(1, 1.0)], &[], early, 0.0, 1.0, 0, usize::MAX);
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
    let mut state = SpendSnapshot {
        today: Some(today),
        today_start: None,
        rows: vec![SpendRow {
            today: Some(3.0),
            ..week_of(1, false)
        }],
    };
    turn_day(&mut state, today + Days::new(2));
    let row = &state.rows[0];
    assert_eq!(state.today, Some(today + Days::new(2)));
    assert_eq!((row.today, row.today_read_at), (None, None));
    assert_eq!(row.days[..3], [None, None, Some(0.1)], "two days moved back two places");
    assert_eq!(row.days[6], Some(0.5), "the 6th and 7th days back fell out");
    assert_eq!(row.settled, 0b111_1000, "the moved yesterday is not settled");
    turn_day(&mut state, today);
    assert_eq!(state.rows[0].days, [None; 7], "a clock gone back keeps no day");
}

#[test]
fn a_day_read_on_the_day_after_the_day_after_is_settled() {
    let today = day("2026-12-06");
    let mut rows = [SpendRow {
        uin: 1,
        ..SpendRow::default()
    }];
    keep(&mut rows, Read::Day(1, day("2026-12-05")), 1.5, today, 0.0);
    keep(&mut rows, Read::Day(1, day("2026-12-03")), 2.5, today, 0.0);
    keep(&mut rows, Read::Day(1, day("2026-11-01")), 9.0, today, 0.0);
    keep(&mut rows, Read::Day(2, day("2026-12-05")), 9.0, today, 0.0);
    assert_eq!(rows[0].days[..3], [Some(1.5), None, Some(2.5)]);
    assert_eq!(rows[0].days[3..], [None; 4], "a day out of the week is not kept");
    assert_eq!(rows[0].settled, 0b100);
    assert!(!settled(&rows[0], 1) && settled(&rows[0], 3));
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
    assert!(week_read(&week_of(1, false), today), "yesterday need not be settled");
    let mut row = week_of(1, true);
    row.settled &= !0b1000;
    assert!(!week_read(&row, today));
    row.settled |= 0b1000;
    row.days[3] = None;
    assert!(!week_read(&row, today));
    assert!(
        week_read(&SpendRow::default(), day("2025-06-01")),
        "no day can be asked for"
    );
}
