//! How late launches go out: for each launched run, the time from when it
//! was due (its slot, or its backoff's end) to when the master answered the
//! ACCEPT. Kept as a bounded window of the newest samples and shown at
//! `/metrics` as a Dropwizard-style histogram, in milliseconds.

use std::collections::VecDeque;

use serde_json::{json, Value};

use crate::core::Millis;

/// Samples kept (the newest).
pub const WINDOW: usize = 10_000;

#[derive(Debug, Default)]
pub struct Lateness {
    samples: VecDeque<Millis>,
    /// Every sample ever recorded, including those that left the window.
    count: u64,
}

impl Lateness {
    pub fn record(&mut self, late: Millis) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(late.max(0));
        self.count += 1;
    }

    /// `{count, min, max, mean, p50, p75, p95, p99, p999}` over the window
    /// (`count` is over all time, as Dropwizard's).
    pub fn histogram(&self) -> Value {
        let mut v: Vec<Millis> = self.samples.iter().copied().collect();
        v.sort_unstable();
        let pick = |q: f64| -> Millis {
            if v.is_empty() {
                return 0;
            }
            let i = ((v.len() - 1) as f64 * q).round() as usize;
            v[i.min(v.len() - 1)]
        };
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<Millis>() as f64 / v.len() as f64
        };
        json!({
            "count": self.count,
            "min": v.first().copied().unwrap_or(0),
            "max": v.last().copied().unwrap_or(0),
            "mean": mean,
            "p50": pick(0.5),
            "p75": pick(0.75),
            "p95": pick(0.95),
            "p99": pick(0.99),
            "p999": pick(0.999),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_over_the_window() {
        let mut l = Lateness::default();
        assert_eq!(l.histogram()["count"], 0);
        assert_eq!(l.histogram()["p99"], 0);
        for i in 1..=100 {
            l.record(i);
        }
        l.record(-5); // a clock step back counts as on time
        let h = l.histogram();
        assert_eq!(h["count"], 101);
        assert_eq!(h["min"], 0);
        assert_eq!(h["max"], 100);
        assert_eq!(h["p50"], 50);
        assert_eq!(h["p99"], 99);
    }

    #[test]
    fn keeps_only_the_newest_samples() {
        let mut l = Lateness::default();
        for _ in 0..WINDOW {
            l.record(1000);
        }
        for _ in 0..WINDOW {
            l.record(1);
        }
        let h = l.histogram();
        assert_eq!(h["count"], 2 * WINDOW as u64);
        assert_eq!(h["max"], 1);
    }
}
