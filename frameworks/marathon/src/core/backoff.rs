//! Launch backoff per app (Marathon's rate limiter): every failure multiplies
//! the delay by `backoffFactor`, starting at `backoffSeconds` and capped at
//! `maxLaunchDelaySeconds`; the delay is forgotten after "delay +
//! maxLaunchDelay" without a failure, on a new app version, or on reset.

use serde::{Deserialize, Serialize};

use crate::core::spec::BackoffStrategy;
use crate::core::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The current delay in seconds.
    pub delay_seconds: f64,
    /// No launch before this instant.
    pub until: Timestamp,
    /// When the delay was last increased (the last failure).
    pub since: Timestamp,
}

fn millis(seconds: f64) -> i64 {
    if seconds.is_finite() {
        (seconds * 1000.0).round().clamp(0.0, i64::MAX as f64) as i64
    } else {
        i64::MAX
    }
}

impl Backoff {
    /// The delay after one more failure at `now`.
    pub fn after_failure(
        previous: Option<&Backoff>,
        strategy: &BackoffStrategy,
        now: Timestamp,
    ) -> Backoff {
        let max = strategy.max_launch_delay_seconds.max(0.0);
        let base = strategy.backoff_seconds.max(0.0).min(max);
        let delay = match previous.filter(|b| !b.expired(strategy, now)) {
            Some(b) => (b.delay_seconds * strategy.backoff_factor.max(1.0))
                .max(base)
                .min(max),
            None => base,
        };
        Backoff {
            delay_seconds: delay,
            until: now.plus_millis(millis(delay)),
            since: now,
        }
    }

    /// Forgotten after "delay + maxLaunchDelay" without another failure.
    pub fn expired(&self, strategy: &BackoffStrategy, now: Timestamp) -> bool {
        let forget_at = self
            .until
            .plus_millis(millis(strategy.max_launch_delay_seconds.max(0.0)));
        now >= forget_at
    }

    /// Seconds until launches may resume (0 when overdue).
    pub fn time_left_seconds(&self, now: Timestamp) -> f64 {
        ((self.until.millis() - now.millis()).max(0) as f64) / 1000.0
    }

    pub fn overdue(&self, now: Timestamp) -> bool {
        now >= self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    #[test]
    fn grows_by_the_factor_up_to_the_cap() {
        let s = BackoffStrategy {
            backoff_seconds: 1.0,
            backoff_factor: 2.0,
            max_launch_delay_seconds: 5.0,
        };
        let b1 = Backoff::after_failure(None, &s, t(0));
        assert_eq!(b1.delay_seconds, 1.0);
        assert_eq!(b1.until, t(1));
        let b2 = Backoff::after_failure(Some(&b1), &s, t(1));
        assert_eq!(b2.delay_seconds, 2.0);
        let b3 = Backoff::after_failure(Some(&b2), &s, t(3));
        assert_eq!(b3.delay_seconds, 4.0);
        let b4 = Backoff::after_failure(Some(&b3), &s, t(7));
        assert_eq!(b4.delay_seconds, 5.0, "capped at maxLaunchDelaySeconds");
        assert_eq!(b4.until, t(12));
        assert_eq!(b4.time_left_seconds(t(10)), 2.0);
        assert!(!b4.overdue(t(10)));
        assert!(b4.overdue(t(12)));
        assert_eq!(b4.time_left_seconds(t(20)), 0.0);
    }

    #[test]
    fn marathon_defaults() {
        let s = BackoffStrategy::default();
        let b1 = Backoff::after_failure(None, &s, t(0));
        let b2 = Backoff::after_failure(Some(&b1), &s, t(1));
        assert!((b2.delay_seconds - 1.15).abs() < 1e-9);
    }

    #[test]
    fn forgotten_after_delay_plus_max_without_failures() {
        let s = BackoffStrategy {
            backoff_seconds: 1.0,
            backoff_factor: 2.0,
            max_launch_delay_seconds: 10.0,
        };
        let b1 = Backoff::after_failure(None, &s, t(0));
        let b2 = Backoff::after_failure(Some(&b1), &s, t(1));
        assert_eq!(b2.until, t(3));
        assert!(!b2.expired(&s, t(12)));
        assert!(b2.expired(&s, t(13)));
        let fresh = Backoff::after_failure(Some(&b2), &s, t(13));
        assert_eq!(fresh.delay_seconds, 1.0, "starts over");
    }
}
