//! One limiter per action at its documented rate, scaled by
//! `--api.rate-limit-fraction`.
//!
//! The limiters allow no burst: Tencent counts calls in a sliding one-second
//! window, and a burst on top of a steady rate would overrun it. A 2 % margin
//! keeps loopback and network jitter from pushing the n+1-th call of a window
//! in before the first one has left it.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

/// The share of the documented rate the limiters actually use.
const SAFETY_MARGIN: f64 = 0.98;

/// The limiters of every action, built once per client.
#[derive(Debug)]
pub struct Limiters {
    by_action: HashMap<&'static str, Limiter>,
}

/// One action's limiter, and the queue in front of it.
#[derive(Debug)]
struct Limiter {
    rate: DefaultDirectRateLimiter,
    /// Callers wait here in turn (tokio's mutex is fair), so that only one of
    /// them at a time sleeps on the limiter: a crowd of waiters all waking for
    /// the same slot would cost CPU and push the winner past its slot.
    queue: tokio::sync::Mutex<()>,
}

impl Limiters {
    /// Builds limiters for `actions` (name, documented requests per second).
    pub fn new(actions: &[(&'static str, u32)], fraction: f64) -> Self {
        let by_action = actions
            .iter()
            .map(|&(name, limit)| {
                let limiter = Limiter {
                    rate: RateLimiter::direct(quota(limit, fraction)),
                    queue: tokio::sync::Mutex::new(()),
                };
                (name, limiter)
            })
            .collect();
        Self { by_action }
    }

    /// Waits until `action` may be called once more.
    pub async fn acquire(&self, action: &str) {
        if let Some(limiter) = self.by_action.get(action) {
            let _turn = limiter.queue.lock().await;
            limiter.rate.until_ready().await;
        }
    }
}

/// The spacing of calls: one per `1 / (limit × fraction × margin)` seconds.
pub fn interval(limit: u32, fraction: f64) -> Duration {
    Duration::from_secs_f64(1.0 / (f64::from(limit) * fraction * SAFETY_MARGIN))
}

fn quota(limit: u32, fraction: f64) -> Quota {
    Quota::with_period(interval(limit, fraction))
        .expect("a positive rate limit gives a non-zero period")
        .allow_burst(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn interval_scales_with_the_fraction() {
        assert_eq!(interval(5, 1.0).as_millis(), 204);
        assert_eq!(interval(20, 1.0).as_millis(), 51);
        assert_eq!(interval(5, 0.5).as_millis(), 408);
    }

    #[tokio::test]
    async fn never_lets_more_than_the_limit_through_in_one_second() {
        let limiters = Limiters::new(&[("Fast", 20)], 1.0);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..25 {
            limiters.acquire("Fast").await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().filter(|u| **u - *t < Duration::from_secs(1)).count();
            assert!(in_window <= 20, "{in_window} calls within one second of call {i}");
        }
    }
}
