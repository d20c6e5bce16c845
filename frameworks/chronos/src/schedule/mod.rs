//! Job schedules: Chronos's ISO 8601 repeating intervals and standard cron.
//!
//! # Forms
//! - `R[n]/start/period`, as in Chronos: `R` repeats without end, `Rn` has
//!   `n` runs left (the scheduler counts it down and persists the count as it
//!   goes; the start stays where it was, so `P1M` from the 31st does not
//!   drift), `R0` never runs. An empty start (`R//PT1H`) means "now". The
//!   start may be a full date-time (`2026-03-01T02:00:00Z`, with or without
//!   offset, fraction and seconds), a date (`2026-03-01`, midnight) or a time
//!   (`T05:50Z`, today). Periods are ISO 8601 durations such as `PT1H`,
//!   `P1D`, `P1Y2M10DT2H30M`; zero, negative and malformed ones are errors.
//! - A 5-field cron expression (`minute hour day-of-month month day-of-week`,
//!   with ranges, steps, lists, names, `L`, `W`, `#`) or `@hourly`, `@daily`,
//!   `@weekly`, `@monthly`, `@yearly`/`@annually`, evaluated by croner.
//!
//! # Time zones
//! `scheduleTimeZone` is an IANA name (`Europe/Berlin`, `America/New_York`,
//! `UTC`). An unknown name is an error, never a silent fallback to UTC/GMT.
//! With a zone, the wall-clock fields of an ISO start are read in that zone
//! and any offset written in the string is ignored (Chronos does the same).
//! Without a zone, the start's own offset is used (none means UTC) and cron
//! runs in UTC.
//!
//! # Daylight saving time
//! Calendar units (`P1D`, `P1W`, `P1M`, `P1Y`, and every cron field) follow
//! the zone's wall clock; time units (`PT24H`, `PT1H`) are elapsed time.
//! - **A daily job keeps its wall-clock time across a change.** `P1D` at
//!   02:30 or `30 2 * * *` runs at 02:30 local time before and after.
//!   (`PT24H` runs every 24 elapsed hours, so its local time moves by an
//!   hour, as in Chronos.)
//! - **Spring forward (gap):** a run whose wall-clock time does not exist
//!   that day runs **at the first valid instant after the gap**, i.e. at the
//!   moment of the transition: 02:30 on a day where 02:00 jumps to 03:00
//!   runs at 03:00. The next day it is back at 02:30. Cron jobs with a step
//!   or wildcard in the minute or hour field (`*/15 * * * *`) instead skip
//!   the times that do not exist, since the next step comes soon anyway.
//! - **Fall back (overlap):** a run whose wall-clock time happens twice runs
//!   **once, at the first occurrence** (the one before the clock goes back).
//!   Cron jobs with a step or wildcard in the minute or hour field run on
//!   each real occurrence, so `*/15 * * * *` keeps firing every 15 minutes
//!   of elapsed time through the repeated hour.
//!
//! Every slot is an instant (a [`Timestamp`]); the scheduler core keys runs
//! by job name and that instant.

mod period;
mod zone;

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

pub use period::{Period, PeriodError};
pub use zone::resolve;

/// Why a schedule or zone was refused; the text is meant for users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot parse schedule '{text}': {reason}")]
    Iso { text: String, reason: String },
    #[error("invalid period in schedule '{text}': {source}")]
    Period { text: String, source: PeriodError },
    #[error("cannot parse cron expression '{text}': {reason}")]
    Cron { text: String, reason: String },
    #[error("unknown time zone '{0}' (use an IANA name such as Europe/Berlin or UTC)")]
    UnknownZone(String),
    #[error("the start of schedule '{0}' is before 1970")]
    Before1970(String),
    #[error("the schedule is empty")]
    Empty,
}

/// A parsed schedule, bound to its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
    tz: TimeZone,
    /// The IANA name given as `scheduleTimeZone`, if any.
    zone_name: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Iso(Iso),
    Cron(CronSpec),
}

#[derive(Debug, Clone)]
struct Iso {
    /// Runs left; `None` is unbounded.
    repeat: Option<u64>,
    /// The wall-clock time of slot 0 in `tz`.
    anchor: DateTime,
    /// The instant of slot 0.
    start: Timestamp,
    period: Period,
}

/// A cron schedule keeps only its text: a parsed `croner::Cron` costs
/// about 5 KiB of heap, too much for 10,000 jobs, while parsing again takes
/// microseconds and happens only when a job's next slot is computed.
#[derive(Debug, Clone)]
struct CronSpec {
    text: String,
}

fn parse_cron(text: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(text)
}

/// Parsed patterns shared by the jobs that use them, at most this many
/// (about 5 KiB each); the cache is emptied when it is full.
const CRON_CACHE_LIMIT: usize = 1024;

static CRON_CACHE: std::sync::Mutex<
    Option<std::collections::HashMap<String, std::sync::Arc<croner::Cron>>>,
> = std::sync::Mutex::new(None);

impl CronSpec {
    /// The parsed pattern (the text was checked when the schedule was
    /// made). Parsing costs ~50 µs, so parsed patterns are cached: at a
    /// minute boundary a thousand jobs share a handful of patterns.
    fn cron(&self) -> Option<std::sync::Arc<croner::Cron>> {
        let mut guard = CRON_CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = guard.get_or_insert_with(std::collections::HashMap::new);
        if let Some(c) = cache.get(&self.text) {
            return Some(c.clone());
        }
        let parsed = std::sync::Arc::new(parse_cron(&self.text).ok()?);
        if cache.len() >= CRON_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(self.text.clone(), parsed.clone());
        Some(parsed)
    }
}

/// Parses a time-zone name; the empty string means none.
pub fn parse_zone(name: &str) -> Result<Option<TimeZone>, ScheduleError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    TimeZone::get(name)
        .map(Some)
        .map_err(|_| ScheduleError::UnknownZone(name.to_string()))
}

/// True when the text is meant as an ISO 8601 repeating interval rather
/// than cron (it starts with `R`).
pub fn looks_iso(text: &str) -> bool {
    text.trim_start().starts_with(['R', 'r'])
}

impl Schedule {
    /// Parses `text` (ISO 8601 `R[n]/start/period` or cron) in the zone
    /// `zone` (IANA name or ""). `now` fills in an empty or time-only start.
    pub fn parse(text: &str, zone: &str, now: Timestamp) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let zone_tz = parse_zone(zone)?;
        let zone_name = zone_tz.as_ref().map(|_| zone.trim().to_string());
        if looks_iso(text) {
            let (iso, tz) = parse_iso(text, zone_tz, now)?;
            Ok(Schedule {
                kind: Kind::Iso(iso),
                tz,
                zone_name,
            })
        } else {
            parse_cron(text).map_err(|e| ScheduleError::Cron {
                text: text.to_string(),
                reason: e.to_string(),
            })?;
            let tz = zone_tz.unwrap_or(TimeZone::UTC);
            let schedule = Schedule {
                kind: Kind::Cron(CronSpec {
                    text: text.to_string(),
                }),
                tz,
                zone_name,
            };
            // A pattern that can never match (`0 0 30 2 *`) is refused now
            // rather than found out at run time.
            if schedule.first_after(Some(now)).is_none() {
                return Err(ScheduleError::Cron {
                    text: text.to_string(),
                    reason: "it never matches a date".to_string(),
                });
            }
            Ok(schedule)
        }
    }

    pub fn is_cron(&self) -> bool {
        matches!(self.kind, Kind::Cron(_))
    }

    /// Runs left for an `Rn` schedule; `None` when unbounded (or cron).
    pub fn repeat(&self) -> Option<u64> {
        match &self.kind {
            Kind::Iso(iso) => iso.repeat,
            Kind::Cron(_) => None,
        }
    }

    /// True when no run is left (`R0`).
    pub fn exhausted(&self) -> bool {
        self.repeat() == Some(0)
    }

    /// The zone the schedule is evaluated in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The name shown to users: the IANA name, else "UTC" or the offset.
    pub fn zone_label(&self) -> String {
        if let Some(name) = &self.zone_name {
            return name.clone();
        }
        match &self.kind {
            Kind::Iso(iso) => {
                let off = self.tz.to_offset(iso.start);
                if off.is_zero() {
                    "UTC".to_string()
                } else {
                    format!("UTC{off}")
                }
            }
            Kind::Cron(_) => "UTC".to_string(),
        }
    }

    /// The first slot strictly after `after` (the first slot of all when
    /// `None`), ignoring the repeat count. `None` when there is none.
    pub fn first_after(&self, after: Option<Timestamp>) -> Option<Timestamp> {
        match &self.kind {
            Kind::Iso(iso) => {
                let k = match after {
                    None => 0,
                    Some(t) => iso.index_after(&self.tz, t)?,
                };
                iso.slot(&self.tz, k)
            }
            Kind::Cron(spec) => {
                let from = after.unwrap_or(Timestamp::UNIX_EPOCH);
                let z = zone::CronZoned(from.to_zoned_datetime(self.tz.clone()));
                spec.cron()?
                    .find_next_occurrence(&z, after.is_none())
                    .ok()
                    .map(|z| z.0.timestamp())
            }
        }
    }

    /// The slots in `(after, upto]`, oldest first, ignoring the repeat count.
    /// At most `cap` are returned: the newest ones. The flag tells whether
    /// older slots were left out.
    pub fn slots_between(
        &self,
        after: Option<Timestamp>,
        upto: Timestamp,
        cap: usize,
    ) -> (Vec<Timestamp>, bool) {
        if cap == 0 {
            return (
                Vec::new(),
                self.first_after(after).is_some_and(|t| t <= upto),
            );
        }
        match &self.kind {
            Kind::Iso(iso) => {
                let from = match after {
                    None => 0,
                    Some(t) => match iso.index_after(&self.tz, t) {
                        Some(k) => k,
                        None => return (Vec::new(), false),
                    },
                };
                let to = match iso.index_after(&self.tz, upto) {
                    Some(k) => k,
                    None => return (Vec::new(), false),
                };
                if to <= from {
                    return (Vec::new(), false);
                }
                let first = from.max(to.saturating_sub(cap as u64));
                let slots = (first..to).filter_map(|k| iso.slot(&self.tz, k)).collect();
                (slots, first > from)
            }
            Kind::Cron(spec) => {
                // Walk back from `upto`; cron has no index arithmetic.
                let Some(cron) = spec.cron() else {
                    return (Vec::new(), false);
                };
                let mut out = Vec::new();
                let mut cursor = zone::CronZoned(upto.to_zoned_datetime(self.tz.clone()));
                let mut inclusive = true;
                loop {
                    let Ok(prev) = cron.find_previous_occurrence(&cursor, inclusive) else {
                        break;
                    };
                    let t = prev.0.timestamp();
                    if after.is_some_and(|a| t <= a) {
                        break;
                    }
                    if out.len() == cap {
                        out.reverse();
                        return (out, true);
                    }
                    out.push(t);
                    cursor = prev;
                    inclusive = false;
                }
                out.reverse();
                (out, false)
            }
        }
    }

    /// The newest slot in `(after, upto]`, if any.
    pub fn last_between(&self, after: Option<Timestamp>, upto: Timestamp) -> Option<Timestamp> {
        self.slots_between(after, upto, 1).0.pop()
    }

    /// The next `n` runs strictly after `after`, honouring the repeat count:
    /// for UI and CLI previews.
    pub fn next_runs(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let n = match self.repeat() {
            Some(left) => n.min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => n,
        };
        let mut out = Vec::with_capacity(n);
        let mut cursor = Some(after);
        while out.len() < n {
            match self.first_after(cursor) {
                Some(t) => {
                    out.push(t);
                    cursor = Some(t);
                }
                None => break,
            }
        }
        out
    }

    /// The schedule in words, e.g. "every day at 02:00 Europe/Berlin".
    pub fn describe(&self) -> String {
        let zone = self.zone_label();
        match &self.kind {
            Kind::Iso(iso) => {
                if iso.repeat == Some(0) {
                    return "never (no runs left)".to_string();
                }
                let local = iso.anchor;
                let hm = format!("{:02}:{:02}", local.hour(), local.minute());
                let p = &iso.period;
                let at = if p.time_nanos() == 0 {
                    if p.years != 0 && p.months == 0 && p.weeks == 0 && p.days == 0 {
                        format!(" on {} at {hm}", local.strftime("%b %-d"))
                    } else if p.months != 0 && p.weeks == 0 && p.days == 0 {
                        format!(" on day {} at {hm}", local.day())
                    } else if p.weeks != 0 && p.days == 0 {
                        format!(" on {} at {hm}", local.strftime("%A"))
                    } else {
                        format!(" at {hm}")
                    }
                } else {
                    String::new()
                };
                let start = iso
                    .start
                    .to_zoned_datetime(self.tz.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string();
                match iso.repeat {
                    Some(1) => format!("once at {start} {zone}"),
                    Some(n) => {
                        format!("every {}{at} {zone}, {n} runs left", p.words())
                    }
                    None => format!("every {}{at} {zone}", p.words()),
                }
            }
            Kind::Cron(spec) => describe_cron(spec, &zone),
        }
    }

    /// The schedule text with `repeat` runs left, in the form the job JSON
    /// shows (`R3/2026-03-01T02:00:00.000+01:00/P1D`; cron is unchanged).
    /// Parsing the result with the same zone gives the same slots.
    pub fn render(&self, repeat: Option<u64>) -> String {
        match &self.kind {
            Kind::Cron(spec) => spec.text.clone(),
            Kind::Iso(iso) => {
                let r = match repeat {
                    Some(n) => format!("R{n}"),
                    None => "R".to_string(),
                };
                let offset = self.tz.to_offset(iso.start);
                let civil = iso.anchor.strftime("%Y-%m-%dT%H:%M:%S%.3f").to_string();
                let off = if offset.is_zero() {
                    "Z".to_string()
                } else {
                    let secs = offset.seconds();
                    let sign = if secs < 0 { '-' } else { '+' };
                    let secs = secs.unsigned_abs();
                    format!("{sign}{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
                };
                format!("{r}/{civil}{off}/{}", iso.period)
            }
        }
    }

    /// This schedule with `repeat` runs left.
    pub fn with_repeat(&self, repeat: Option<u64>) -> Schedule {
        let mut s = self.clone();
        if let Kind::Iso(iso) = &mut s.kind {
            iso.repeat = repeat;
        }
        s
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.repeat()))
    }
}

fn describe_cron(spec: &CronSpec, zone: &str) -> String {
    let fields: Vec<&str> = spec.text.split_whitespace().collect();
    let lower = spec.text.to_ascii_lowercase();
    let simple = match lower.as_str() {
        "@hourly" => Some("every hour at minute 0".to_string()),
        "@daily" | "@midnight" => Some("every day at 00:00".to_string()),
        "@weekly" => Some("every week on Sunday at 00:00".to_string()),
        "@monthly" => Some("every month on day 1 at 00:00".to_string()),
        "@yearly" | "@annually" => Some("every year on Jan 1 at 00:00".to_string()),
        _ => None,
    };
    if let Some(s) = simple {
        return format!("{s} {zone}");
    }
    let num = |s: &str| s.parse::<u32>().ok();
    if let [m, h, dom, mon, dow] = fields[..] {
        if let (Some(m), Some(h)) = (num(m), num(h)) {
            if dom == "*" && mon == "*" && dow == "*" {
                return format!("every day at {h:02}:{m:02} {zone}");
            }
        }
        if let Some(m) = num(m) {
            if h == "*" && dom == "*" && mon == "*" && dow == "*" {
                return format!("every hour at minute {m} {zone}");
            }
        }
        if m == "*" && h == "*" && dom == "*" && mon == "*" && dow == "*" {
            return format!("every minute {zone}");
        }
        if let Some(step) = m.strip_prefix("*/").and_then(num) {
            if h == "*" && dom == "*" && mon == "*" && dow == "*" {
                return format!("every {step} minutes {zone}");
            }
        }
    }
    match spec.cron() {
        Some(c) => format!("{} ({zone})", c.describe()),
        None => format!("cron {} ({zone})", spec.text),
    }
}

fn iso_err(text: &str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError::Iso {
        text: text.to_string(),
        reason: reason.into(),
    }
}

fn parse_iso(
    text: &str,
    zone: Option<TimeZone>,
    now: Timestamp,
) -> Result<(Iso, TimeZone), ScheduleError> {
    let mut parts = text.splitn(3, '/');
    let (Some(r), Some(start), Some(period)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(iso_err(text, "expected R[n]/start/period"));
    };
    let count = &r[1..];
    let repeat = if count.is_empty() {
        None
    } else {
        if !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(iso_err(text, "the repeat count must be R or R<n>"));
        }
        Some(
            count
                .parse::<u64>()
                .map_err(|_| iso_err(text, "the repeat count is too large"))?,
        )
    };
    let period = Period::parse(period).map_err(|source| ScheduleError::Period {
        text: text.to_string(),
        source,
    })?;
    let start = start.trim();
    let (anchor, tz) = if start.is_empty() {
        let tz = zone.unwrap_or(TimeZone::UTC);
        (now.to_zoned_datetime(tz.clone()).datetime(), tz)
    } else {
        parse_start(text, start, zone, now)?
    };
    let start_ts =
        zone::resolve(&tz, anchor).ok_or_else(|| iso_err(text, "the start is out of range"))?;
    if start_ts < Timestamp::UNIX_EPOCH {
        return Err(ScheduleError::Before1970(text.to_string()));
    }
    let iso = Iso {
        repeat,
        anchor,
        start: start_ts,
        period,
    };
    // Slot arithmetic must work for the first slots at least.
    if iso.slot(&tz, 1).is_none() {
        return Err(iso_err(text, "the period is too large"));
    }
    Ok((iso, tz))
}

/// The wall-clock start and the zone it is read in.
fn parse_start(
    text: &str,
    start: &str,
    zone: Option<TimeZone>,
    now: Timestamp,
) -> Result<(DateTime, TimeZone), ScheduleError> {
    let bad = |why: &str| iso_err(text, format!("bad start '{start}': {why}"));
    let owned;
    let full = if start.starts_with(['T', 't']) {
        // A time alone means today, in the zone (or the time's own offset).
        let today = now
            .to_zoned_datetime(zone.clone().unwrap_or(TimeZone::UTC))
            .date();
        owned = format!("{today}{start}");
        owned.as_str()
    } else {
        start
    };
    let pieces = Pieces::parse(full).map_err(|e| bad(&e.to_string()))?;
    let date: Date = pieces.date();
    let time: Time = pieces.time().unwrap_or(Time::midnight());
    let civil = date.to_datetime(time);
    match zone {
        // Chronos re-reads the wall-clock fields in the zone.
        Some(tz) => Ok((civil, tz)),
        None => {
            let tz = match pieces.offset() {
                Some(PiecesOffset::Numeric(n)) => n.offset().to_time_zone(),
                _ => TimeZone::UTC,
            };
            Ok((civil, tz))
        }
    }
}

impl Iso {
    /// The instant of slot `k`.
    fn slot(&self, tz: &TimeZone, k: u64) -> Option<Timestamp> {
        let k = i64::try_from(k).ok()?;
        let time = self.period.time_nanos().checked_mul(i128::from(k))?;
        let time = SignedDuration::try_from_nanos_i128(time)?;
        if self.period.is_fixed() {
            return self.start.checked_add(time).ok();
        }
        let p = &self.period;
        let span = Span::new()
            .try_years(i64::from(p.years).checked_mul(k)?)
            .ok()?
            .try_months(i64::from(p.months).checked_mul(k)?)
            .ok()?
            .try_weeks(i64::from(p.weeks).checked_mul(k)?)
            .ok()?
            .try_days(i64::from(p.days).checked_mul(k)?)
            .ok()?;
        let civil = self.anchor.checked_add(span).ok()?;
        zone::resolve(tz, civil)?.checked_add(time).ok()
    }

    /// The smallest `k` whose slot is strictly after `t`.
    fn index_after(&self, tz: &TimeZone, t: Timestamp) -> Option<u64> {
        if t < self.start {
            return Some(0);
        }
        let elapsed = t.as_nanosecond() - self.start.as_nanosecond();
        if self.period.is_fixed() {
            let d = self.period.time_nanos();
            return u64::try_from(elapsed / d + 1).ok();
        }
        let approx = self.period.approx_nanos().max(1);
        let mut k = u64::try_from(elapsed / approx).ok()?;
        // Correct the guess: months and DST make slots uneven.
        while k > 0 && self.slot(tz, k)? > t {
            k -= 1;
        }
        while self.slot(tz, k)? <= t {
            k += 1;
        }
        Some(k)
    }
}

/// Milliseconds since the epoch, the time unit of the scheduler core.
pub fn to_millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The instant of a millisecond count (clamped to jiff's range).
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Chronos's timestamp format: UTC with milliseconds and a `Z`.
pub fn format_utc(ms: i64) -> String {
    from_millis(ms)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests;
