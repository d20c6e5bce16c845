//! A plain display of a Chronos schedule, for when the server does not
//! describe it: `R[n]/start/period` in words, and the next run on the
//! start + k × period grid (in `scheduleTimeZone`, so calendar units keep
//! the wall-clock time). Cron expressions are shown as they are.

use jiff::civil::Time;
use jiff::fmt::temporal::Pieces;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime as Zoned};

/// A parsed `R[n]/start/period`.
#[derive(Debug, Clone)]
pub struct Iso {
    /// Runs left; `None` = without end.
    pub repeat: Option<u64>,
    /// `None` = an empty start ("now").
    pub start: Option<Zoned>,
    pub period: Span,
}

/// Parses an ISO 8601 repeating interval; `zone` is `scheduleTimeZone`
/// ("" = the start's own offset, else UTC). `None` when it is not one.
pub fn parse_iso(schedule: &str, zone: &str) -> Option<Iso> {
    let mut parts = schedule.trim().splitn(3, '/');
    let r = parts.next()?;
    let start = parts.next()?;
    let period_text = parts.next()?;
    let count = r.strip_prefix(['R', 'r'])?;
    let repeat = if count.is_empty() {
        None
    } else {
        Some(count.parse::<u64>().ok()?)
    };
    let period: Span = period_text.parse().ok()?;
    if period.is_zero() || period.is_negative() {
        return None;
    }
    let tz = if zone.trim().is_empty() {
        None
    } else {
        Some(TimeZone::get(zone.trim()).ok()?)
    };
    let start = if start.trim().is_empty() {
        None
    } else {
        Some(parse_start(start.trim(), tz)?)
    };
    Some(Iso {
        repeat,
        start,
        period,
    })
}

/// A start with or without offset (none = UTC), a date alone meaning
/// midnight; a zone re-reads its wall-clock fields, as Chronos does.
fn parse_start(s: &str, tz: Option<TimeZone>) -> Option<Zoned> {
    let pieces = Pieces::parse(s).ok()?;
    let civil = pieces
        .date()
        .to_datetime(pieces.time().unwrap_or(Time::midnight()));
    let tz = tz.unwrap_or_else(|| {
        TimeZone::fixed(pieces.to_numeric_offset().unwrap_or(jiff::tz::Offset::UTC))
    });
    civil.to_zoned_datetime(tz).ok()
}

/// The period in words: "1 hour" → "hour", "P2D" → "2 days".
pub fn period_words(p: &Span) -> String {
    let units = [
        (p.get_years() as i64, "year"),
        (p.get_months() as i64, "month"),
        (p.get_weeks() as i64, "week"),
        (p.get_days() as i64, "day"),
        (p.get_hours() as i64, "hour"),
        (p.get_minutes(), "minute"),
        (p.get_seconds(), "second"),
    ];
    let parts: Vec<String> = units
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, u)| {
            if *n == 1 {
                format!("1 {u}")
            } else {
                format!("{n} {u}s")
            }
        })
        .collect();
    match parts.as_slice() {
        [one] => one.strip_prefix("1 ").unwrap_or(one).to_string(),
        _ => parts.join(" "),
    }
}

fn short_time(z: &Zoned) -> String {
    let zone = z
        .time_zone()
        .iana_name()
        .map(str::to_string)
        .unwrap_or_else(|| {
            let off = z.offset();
            if off.is_zero() {
                "UTC".into()
            } else {
                format!("UTC{off}")
            }
        });
    format!("{} {zone}", z.strftime("%Y-%m-%d %H:%M"))
}

/// A schedule in words. Dependent jobs (no schedule) read "after a, b".
pub fn describe(schedule: &str, zone: &str, parents: &[String]) -> String {
    if schedule.trim().is_empty() {
        return if parents.is_empty() {
            "-".into()
        } else {
            format!("after {}", parents.join(", "))
        };
    }
    let Some(iso) = parse_iso(schedule, zone) else {
        // Cron (or something only the server understands): as written.
        let z = if zone.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", zone.trim())
        };
        return format!("{}{z}", schedule.trim());
    };
    let from = iso
        .start
        .as_ref()
        .map(short_time)
        .unwrap_or_else(|| "now".into());
    let every = period_words(&iso.period);
    match iso.repeat {
        Some(0) => "never (no runs left)".into(),
        Some(1) => format!("once at {from}"),
        Some(n) => format!("every {every} from {from}, {n} runs left"),
        None => format!("every {every} from {from}"),
    }
}

/// The first slot at or after `now` on the start + k × period grid, or
/// `None` for `R0`. (Chronos counts `Rn` down as runs happen, so the
/// count left is the server's to know; only `R0` means no next run.)
pub fn next_run(iso: &Iso, now: Timestamp) -> Option<Timestamp> {
    if iso.repeat == Some(0) {
        return None;
    }
    let Some(start) = &iso.start else {
        return Some(now);
    };
    if start.timestamp() >= now {
        return Some(start.timestamp());
    }
    let slot = |k: i64| -> Option<Timestamp> {
        let span = iso.period.checked_mul(k).ok()?;
        start.checked_add(span).ok().map(|z| z.timestamp())
    };
    // Jump close with the period's approximate length, then step.
    let approx = slot(1)?.duration_since(start.timestamp()).as_secs_f64();
    if approx <= 0.0 {
        return None;
    }
    let elapsed = now.duration_since(start.timestamp()).as_secs_f64();
    let mut k = ((elapsed / approx).floor() as i64 - 1).max(0);
    while slot(k)? < now {
        k += 1;
    }
    while k > 0 && slot(k - 1)? >= now {
        k -= 1;
    }
    slot(k)
}

/// "2026-12-01 06:00 UTC" for a Unix-millisecond or ISO instant.
pub fn show_instant(ts: Timestamp) -> String {
    format!("{} UTC", ts.strftime("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn iso_schedules_in_words() {
        assert_eq!(
            describe("R/2026-01-01T02:00:00Z/PT1H", "", &[]),
            "every hour from 2026-01-01 02:00 UTC"
        );
        assert_eq!(
            describe("R5/2026-01-01T02:00:00+01:00/P2D", "", &[]),
            "every 2 days from 2026-01-01 02:00 UTC+01, 5 runs left"
        );
        assert_eq!(
            describe("R/2026-03-01T02:30:00Z/P1D", "Europe/Berlin", &[]),
            "every day from 2026-03-01 02:30 Europe/Berlin"
        );
        assert_eq!(
            describe("R1/2026-01-01T00:00:00Z/PT1M", "", &[]),
            "once at 2026-01-01 00:00 UTC"
        );
        assert_eq!(
            describe("R0/2014-01-01T00:00:00Z/PT60M", "", &[]),
            "never (no runs left)"
        );
        assert_eq!(describe("R//PT30M", "", &[]), "every 30 minutes from now");
        assert_eq!(
            describe("R/2026-01-01/P1Y2M", "", &[]),
            "every 1 year 2 months from 2026-01-01 00:00 UTC"
        );
    }

    #[test]
    fn cron_and_dependent_jobs() {
        assert_eq!(describe("0 2 * * *", "", &[]), "0 2 * * *");
        assert_eq!(
            describe("@daily", "America/New_York", &[]),
            "@daily America/New_York"
        );
        assert_eq!(describe("", "", &["a".into(), "b".into()]), "after a, b");
        assert_eq!(describe("", "", &[]), "-");
    }

    #[test]
    fn malformed_schedules_are_not_iso() {
        for s in [
            "R/x/PT1H",
            "R/2026-01-01T00:00:00Z/P",
            "Rx//PT1H",
            "R//PT0S",
            "R//-PT1H",
            "nonsense",
        ] {
            assert!(parse_iso(s, "").is_none(), "{s}");
        }
        assert!(parse_iso("R//PT1H", "No/Such_Zone").is_none());
    }

    #[test]
    fn next_runs_follow_the_grid() {
        let iso = parse_iso("R/2026-01-01T00:00:00Z/PT1H", "").unwrap();
        assert_eq!(
            next_run(&iso, ts("2025-12-31T00:00:00Z")),
            Some(ts("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            next_run(&iso, ts("2026-01-01T05:30:00Z")),
            Some(ts("2026-01-01T06:00:00Z"))
        );
        assert_eq!(
            next_run(&iso, ts("2026-01-01T06:00:00Z")),
            Some(ts("2026-01-01T06:00:00Z"))
        );
        assert_eq!(
            next_run(&iso, ts("2027-01-01T00:00:01Z")),
            Some(ts("2027-01-01T01:00:00Z"))
        );
        let never = parse_iso("R0/2026-01-01T00:00:00Z/PT1H", "").unwrap();
        assert_eq!(next_run(&never, ts("2025-01-01T00:00:00Z")), None);
        let now = parse_iso("R//PT1H", "").unwrap();
        assert_eq!(
            next_run(&now, ts("2026-05-05T00:00:00Z")),
            Some(ts("2026-05-05T00:00:00Z"))
        );
    }

    #[test]
    fn daily_runs_keep_the_wall_clock_across_dst() {
        // Berlin springs forward on 2026-03-29: 02:00 CET → 03:00 CEST.
        let iso = parse_iso("R/2026-03-27T06:00:00Z/P1D", "Europe/Berlin").unwrap();
        // 06:00 Berlin time = 05:00Z before, 04:00Z after the change.
        assert_eq!(
            next_run(&iso, ts("2026-03-28T01:00:00Z")),
            Some(ts("2026-03-28T05:00:00Z"))
        );
        assert_eq!(
            next_run(&iso, ts("2026-03-30T01:00:00Z")),
            Some(ts("2026-03-30T04:00:00Z"))
        );
        // Months step on the calendar.
        let monthly = parse_iso("R/2026-01-15T00:00:00Z/P1M", "").unwrap();
        assert_eq!(
            next_run(&monthly, ts("2026-04-20T00:00:00Z")),
            Some(ts("2026-05-15T00:00:00Z"))
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary schedules never panic; a next run is never in the past.
        #[test]
        fn any_schedule_is_handled(
            s in "R[0-9]{0,3}/(20[0-9]{2}-0[1-9]-1[0-9](T[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?)?/P([0-9]{1,3}[YMWD])?(T[0-9]{1,4}[HMS])?",
            zone in "(|UTC|Europe/Berlin|America/New_York|Nope/Zone)",
            now_s in 0i64..4_000_000_000,
        ) {
            let _ = describe(&s, &zone, &[]);
            if let Some(iso) = parse_iso(&s, &zone) {
                let now = Timestamp::from_second(now_s).unwrap();
                if let Some(next) = next_run(&iso, now) {
                    prop_assert!(next >= now);
                }
            }
        }

        #[test]
        fn any_text_never_panics(s in "\\PC{0,40}", zone in "\\PC{0,12}") {
            let _ = describe(&s, &zone, &[]);
            if let Some(iso) = parse_iso(&s, &zone) {
                let _ = next_run(&iso, Timestamp::UNIX_EPOCH);
            }
        }
    }
}
