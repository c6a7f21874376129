//! The rolling full sweep of a collector that reads a customer again only
//! when something it watches changed: what that cannot see (a top-up and a
//! reclaim of the same amount, a bill that moved with no balance moving) is
//! caught by reading every customer again within `--refresh.<name>-full-interval`,
//! a share at each refresh, so that the sweep never arrives as a burst.
//!
//! It owns only the pacing; which customers changed is the collector's business.

use std::collections::HashSet;
use std::time::Duration;

/// How much of the sweep is owed, carried from refresh to refresh.
#[derive(Debug, Default)]
pub struct Sweep {
    /// When the last refresh started, unix seconds.
    last_refresh: Option<f64>,
    /// Customers owed a read, as a fraction carried over.
    owed: f64,
}

impl Sweep {
    /// Resumes after a restart from the read times of the rows served: the
    /// newest is when the last refresh ran.
    pub fn resume(read_at: impl IntoIterator<Item = Option<f64>>) -> Self {
        Self {
            last_refresh: read_at.into_iter().flatten().reduce(f64::max),
            owed: 0.0,
        }
    }

    /// The customers this refresh reads again though nothing they watch
    /// changed: those not read within `full_sweep`, and the longest unread of
    /// the rest, as many as the sweep is owed (`customers` × time since the last
    /// refresh ÷ `full_sweep`, carried over). `read_at` holds each customer read
    /// before, with when (`None`: unknown, so first).
    pub fn due(
        &mut self,
        full_sweep: Option<Duration>,
        interval: Duration,
        now: f64,
        customers: usize,
        read_at: impl IntoIterator<Item = (u64, Option<f64>)>,
    ) -> HashSet<u64> {
        let since_last = self
            .last_refresh
            .map_or(interval.as_secs_f64(), |last| (now - last).max(0.0));
        self.last_refresh = Some(now);
        let Some(full_sweep) = full_sweep else {
            return HashSet::new();
        };
        let full_sweep = full_sweep.as_secs_f64();
        self.owed += customers as f64 * since_last / full_sweep;
        let mut by_age: Vec<(f64, u64)> = read_at
            .into_iter()
            .map(|(uin, at)| (at.unwrap_or(f64::NEG_INFINITY), uin))
            .collect();
        by_age.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let overdue = by_age.iter().take_while(|(at, _)| now - at >= full_sweep).count();
        let share = (self.owed.floor() as usize).max(overdue).min(by_age.len());
        self.owed = (self.owed - share as f64).clamp(0.0, by_age.len() as f64);
        by_age.into_iter().take(share).map(|(_, uin)| uin).collect()
    }
}

impl Sweep {
    /// Owes again `unread` customers that [`Sweep::due`] chose but the
    /// refresh could not read: they are chosen again next time.
    pub fn owe(&mut self, unread: usize) {
        self.owed += unread as f64;
    }
}

/// The local clock in unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(uins: std::ops::Range<u64>, read_at: f64) -> Vec<(u64, Option<f64>)> {
        uins.map(|uin| (uin, Some(read_at + uin as f64))).collect()
    }

    #[test]
    fn reads_the_longest_unread_share_and_every_overdue_customer() {
        let day = Duration::from_secs(86_400);
        let five_minutes = Duration::from_secs(300);
        // 1000 customers, a day's sweep, 5 minutes since the last refresh:
        // 3.47 owed, so 3 read now (the three read longest ago) and 0.47 carried.
        let mut sweep = Sweep::resume([Some(3_300.0)]);
        let now = sweep.due(Some(day), five_minutes, 3_600.0, 1000, read(0..1000, 0.0));
        assert_eq!(now, HashSet::from([0, 1, 2]));
        assert!((sweep.owed - 0.472).abs() < 0.001, "{}", sweep.owed);
        // Customers last read over a day ago are read whatever is owed.
        let mut sweep = Sweep::resume([Some(86_409.5)]);
        let overdue = sweep.due(Some(day), five_minutes, 86_409.5, 1000, read(0..1000, 0.0));
        assert_eq!(overdue.len(), 10);
        // Without a full sweep, nothing is read for it.
        let mut sweep = Sweep::default();
        assert!(sweep.due(None, five_minutes, 1e9, 1000, read(0..1000, 0.0)).is_empty());
    }
}
