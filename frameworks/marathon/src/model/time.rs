//! Marathon timestamps: ISO-8601 UTC with exactly three fractional digits and a `Z`
//! (`2014-03-01T23:42:20.938Z`), kept as milliseconds since the Unix epoch.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time with millisecond precision. Versions of apps and groups are timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// A timestamp string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an ISO-8601 timestamp")]
pub struct BadTimestamp(pub String);

impl Timestamp {
    /// The Unix epoch, used as "no version yet".
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// The current wall-clock time. Only the edges (API handlers, the runtime) call this;
    /// the core receives `now` as a value.
    pub fn now() -> Timestamp {
        Timestamp(jiff::Timestamp::now().as_millisecond())
    }

    /// Parses any RFC 3339 / ISO-8601 instant (`Z` or an offset), truncated to milliseconds.
    pub fn parse(s: &str) -> Result<Timestamp, BadTimestamp> {
        s.trim()
            .parse::<jiff::Timestamp>()
            .map(|t| Timestamp(t.as_millisecond()))
            .map_err(|_| BadTimestamp(s.to_string()))
    }

    /// Adds milliseconds (saturating).
    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => write!(f, "{t:.3}"),
            // Out of jiff's range (±9999 years): clamp rather than fail a response.
            Err(_) => f.write_str(if self.0 < 0 {
                "-009999-01-01T00:00:00.000Z"
            } else {
                "9999-12-31T23:59:59.999Z"
            }),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        let t = Timestamp::parse("2014-03-01T23:42:20.938Z").unwrap();
        assert_eq!(t.to_string(), "2014-03-01T23:42:20.938Z");
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::parse("2015-08-26T20:23:39Z")
                .unwrap()
                .to_string(),
            "2015-08-26T20:23:39.000Z"
        );
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2014-03-02T01:42:20.938+02:00").unwrap();
        assert_eq!(t.to_string(), "2014-03-01T23:42:20.938Z");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("").is_err());
    }

    #[test]
    fn json_round_trip() {
        let t = Timestamp::from_millis(1_417_000_000_123);
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"2014-11-26T11:06:40.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&j).unwrap(), t);
    }
}
