//! Turning a wall-clock time in a zone into an instant, with Paddock's DST
//! rules, and the bridge that lets croner search in a jiff time zone.

use std::cmp::Ordering;

use croner::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

/// The instant of a wall-clock time in `tz`:
/// - a time that happens once is that instant;
/// - a time in a fall-back overlap (it happens twice) is its **first**
///   occurrence;
/// - a time in a spring-forward gap (it never happens) is the **first valid
///   instant after the gap**, i.e. the moment of the transition (02:30 on a
///   day where 02:00 jumps to 03:00 resolves to 03:00).
pub fn resolve(tz: &TimeZone, civil: DateTime) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(civil);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
        AmbiguousOffset::Gap { before, after } => {
            // The transition T satisfies civil - after < T <= civil - before.
            let latest = before.to_timestamp(civil).ok()?;
            let earliest = after.to_timestamp(civil).ok()?;
            let probe = latest.checked_add(SignedDuration::from_nanos(1)).ok()?;
            match tz.preceding(probe).next() {
                Some(t) if t.timestamp() > earliest && t.timestamp() <= latest => {
                    Some(t.timestamp())
                }
                _ => Some(latest),
            }
        }
    }
}

/// A zoned instant that croner can search over (croner's own jiff support
/// targets an older jiff).
#[derive(Debug, Clone)]
pub struct CronZoned(pub ZonedDateTime);

fn to_civil(dt: DateTime) -> CivilDateTime {
    CivilDateTime::new(
        CivilDate::from_parts_unchecked(i32::from(dt.year()), dt.month() as u32, dt.day() as u32),
        CivilTime::from_parts_unchecked(dt.hour() as u32, dt.minute() as u32, dt.second() as u32),
    )
}

fn to_jiff(c: CivilDateTime) -> Result<DateTime, croner::errors::CronError> {
    let year = i16::try_from(c.year()).map_err(|_| croner::errors::CronError::InvalidDate)?;
    DateTime::new(
        year,
        c.month() as i8,
        c.day() as i8,
        c.hour() as i8,
        c.minute() as i8,
        c.second() as i8,
        0,
    )
    .map_err(|_| croner::errors::CronError::InvalidDate)
}

impl CronDateTime for CronZoned {
    fn to_civil(&self) -> CivilDateTime {
        to_civil(self.0.datetime())
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(self.0.weekday().to_sunday_zero_offset() as u32)
    }

    fn resolve_civil(
        &self,
        civil: CivilDateTime,
    ) -> Result<Resolution<Self>, croner::errors::CronError> {
        use croner::errors::CronError;
        let dt = to_jiff(civil)?;
        let tz = self.0.time_zone().clone();
        let ambiguous = tz.to_ambiguous_timestamp(dt);
        let zoned = |ts: Timestamp| CronZoned(ts.to_zoned_datetime(tz.clone()));
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => Resolution::Single(zoned(
                ambiguous
                    .unambiguous()
                    .map_err(|_| CronError::InvalidTime)?,
            )),
            AmbiguousOffset::Fold { .. } => {
                let earlier = ambiguous.earlier().map_err(|_| CronError::InvalidTime)?;
                let later = ambiguous.later().map_err(|_| CronError::InvalidTime)?;
                Resolution::Ambiguous(zoned(earlier), zoned(later))
            }
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(SignedDuration::from_secs(seconds))
            .ok()
            .map(CronZoned)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn gap_resolves_to_the_transition() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let civil: DateTime = "2026-03-08T02:30:00".parse().unwrap();
        // 02:00 EST jumps to 03:00 EDT = 07:00Z.
        assert_eq!(resolve(&tz, civil), Some(ts("2026-03-08T07:00:00Z")));
        let start_of_gap: DateTime = "2026-03-08T02:00:00".parse().unwrap();
        assert_eq!(resolve(&tz, start_of_gap), Some(ts("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn fold_resolves_to_the_first_occurrence() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let civil: DateTime = "2026-10-25T02:30:00".parse().unwrap();
        // First 02:30 is CEST (+02:00) = 00:30Z.
        assert_eq!(resolve(&tz, civil), Some(ts("2026-10-25T00:30:00Z")));
    }
}
