//! How long a refresh may run. No refresh runs for ever, whatever the API
//! answers: each has a deadline of twice its collector's interval (a minute
//! at least), extended by twice the time its items take at their action's
//! documented pace as the collector declares them. A first start of 10,000
//! customers' allocations (10,250 calls at 5 a second, 35 minutes) is thus
//! given 70 minutes beyond its base. Past its deadline, a refresh stops
//! reading new items, publishes what it read and fails, logged and counted
//! in `refresh_success`; one that does not even stop is dropped after a
//! grace as long again as its base.

use std::time::Duration;

/// The least a refresh is given, however short its interval.
const LEAST: Duration = Duration::from_secs(60);

/// The deadline of a refresh of a collector refreshed every `interval`,
/// before its items are counted.
pub fn base(interval: Duration) -> Duration {
    (interval * 2).max(LEAST)
}

/// What `due` items, each taking `pace` seconds at their action's rate
/// limit, add to the deadline: twice their time, for retries and the calls
/// other collectors make of the same limit.
pub fn for_items(due: usize, pace: f64) -> Duration {
    Duration::try_from_secs_f64(due as f64 * pace * 2.0).unwrap_or(Duration::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_is_given_twice_its_interval_and_twice_the_time_of_its_items() {
        assert_eq!(base(Duration::from_secs(1)), LEAST);
        assert_eq!(base(Duration::from_secs(3600)), Duration::from_secs(7200));
        // 10,250 histories at 5 a second.
        assert_eq!(for_items(10_250, 0.2), Duration::from_secs(4100));
        assert!(for_items(usize::MAX, f64::MAX) > Duration::from_secs(1 << 40));
    }
}
