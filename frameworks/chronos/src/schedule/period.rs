//! ISO 8601 durations (`PnYnMnWnDTnHnMnS`), the period of a repeating
//! interval and the form of `epsilon`.
//!
//! The calendar part (years, months, weeks, days) is applied to the wall
//! clock of the schedule's time zone; the time part (hours, minutes, seconds)
//! is elapsed time. So `P1D` keeps the wall-clock time across a DST change
//! and `PT24H` does not, as in Chronos (Joda-Time).

use std::fmt;

/// The largest count accepted for one unit; far beyond any real schedule,
/// small enough that multiplying by a slot index cannot overflow quietly.
const MAX_UNIT: u64 = 1_000_000;

/// A positive ISO 8601 duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    /// Whole seconds.
    pub seconds: u32,
    /// The fraction of a second, in nanoseconds.
    pub nanos: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("'{0}' is not an ISO 8601 duration (expected PnYnMnWnDTnHnMnS, e.g. PT1H or P1D)")]
    Syntax(String),
    #[error("the period '{0}' is zero; it must be positive")]
    Zero(String),
    #[error("the period '{0}' is negative; it must be positive")]
    Negative(String),
    #[error("a unit in '{0}' is too large")]
    TooLarge(String),
}

impl Period {
    /// Parses `P…`. Lower-case letters are accepted; a fraction is allowed
    /// only on seconds; a negative or zero duration is an error.
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let syntax = || PeriodError::Syntax(text.to_string());
        let upper = text.trim().to_ascii_uppercase();
        if upper.starts_with('-') {
            return Err(PeriodError::Negative(text.to_string()));
        }
        let rest = upper.strip_prefix('P').ok_or_else(syntax)?;
        if rest.is_empty() {
            return Err(PeriodError::Zero(text.to_string()));
        }
        let (date_part, time_part) = match rest.split_once('T') {
            Some((d, t)) => {
                if t.is_empty() {
                    return Err(syntax());
                }
                (d, Some(t))
            }
            None => (rest, None),
        };
        let mut p = Period::default();
        let mut seen_any = false;
        // Date units must come in this order, each at most once.
        let mut order = 0;
        for (number, unit) in units(date_part).map_err(|_| syntax())? {
            let rank = match unit {
                'Y' => 1,
                'M' => 2,
                'W' => 3,
                'D' => 4,
                _ => return Err(syntax()),
            };
            if rank <= order || number.contains('.') {
                return Err(syntax());
            }
            order = rank;
            let n = whole(number, text)?;
            match unit {
                'Y' => p.years = n,
                'M' => p.months = n,
                'W' => p.weeks = n,
                _ => p.days = n,
            }
            seen_any = true;
        }
        if let Some(time) = time_part {
            let mut order = 0;
            for (number, unit) in units(time).map_err(|_| syntax())? {
                let rank = match unit {
                    'H' => 1,
                    'M' => 2,
                    'S' => 3,
                    _ => return Err(syntax()),
                };
                if rank <= order || (unit != 'S' && number.contains('.')) {
                    return Err(syntax());
                }
                order = rank;
                match unit {
                    'H' => p.hours = whole(number, text)?,
                    'M' => p.minutes = whole(number, text)?,
                    _ => {
                        let (int, frac) = match number.split_once(['.', ',']) {
                            Some((i, f)) => (i, f),
                            None => (number, ""),
                        };
                        if int.is_empty()
                            || frac.len() > 9
                            || !frac.bytes().all(|b| b.is_ascii_digit())
                        {
                            return Err(syntax());
                        }
                        p.seconds = whole(int, text)?;
                        if !frac.is_empty() {
                            let padded = format!("{frac:0<9}");
                            p.nanos = padded.parse().map_err(|_| syntax())?;
                        }
                    }
                }
                seen_any = true;
            }
        }
        if !seen_any {
            return Err(syntax());
        }
        if p.is_zero() {
            return Err(PeriodError::Zero(text.to_string()));
        }
        Ok(p)
    }

    pub fn is_zero(&self) -> bool {
        *self == Period::default()
    }

    /// True when only hours, minutes and seconds are set: the period is a
    /// fixed amount of elapsed time.
    pub fn is_fixed(&self) -> bool {
        self.years == 0 && self.months == 0 && self.weeks == 0 && self.days == 0
    }

    /// The elapsed-time part in nanoseconds.
    pub fn time_nanos(&self) -> i128 {
        (i128::from(self.hours) * 3600 + i128::from(self.minutes) * 60 + i128::from(self.seconds))
            * 1_000_000_000
            + i128::from(self.nanos)
    }

    /// A rough length in nanoseconds (a month is 30.436875 days), used only
    /// to guess a slot index before the exact arithmetic corrects it.
    pub fn approx_nanos(&self) -> i128 {
        let day = 86_400i128 * 1_000_000_000;
        i128::from(self.years) * day * 3652425 / 10000
            + i128::from(self.months) * day * 30436875 / 1000000
            + i128::from(self.weeks) * 7 * day
            + i128::from(self.days) * day
            + self.time_nanos()
    }

    /// The length when days are taken as 24 hours; `None` when the period has
    /// months or years (which have no fixed length). Used for `epsilon`.
    pub fn as_fixed_nanos(&self) -> Option<i128> {
        if self.years != 0 || self.months != 0 {
            return None;
        }
        let day = 86_400i128 * 1_000_000_000;
        Some(i128::from(self.weeks) * 7 * day + i128::from(self.days) * day + self.time_nanos())
    }

    /// Words for `describe()`: "day", "2 days", "hour", "1 year 2 months".
    pub fn words(&self) -> String {
        let parts: Vec<(u32, &str)> = [
            (self.years, "year"),
            (self.months, "month"),
            (self.weeks, "week"),
            (self.days, "day"),
            (self.hours, "hour"),
            (self.minutes, "minute"),
        ]
        .into_iter()
        .filter(|(n, _)| *n != 0)
        .collect();
        let mut out: Vec<String> = parts.iter().map(|(n, unit)| plural(*n, unit)).collect();
        if self.seconds != 0 || self.nanos != 0 {
            if self.nanos == 0 {
                out.push(plural(self.seconds, "second"));
            } else {
                let s = format!("{}.{:09}", self.seconds, self.nanos);
                out.push(format!("{} seconds", s.trim_end_matches('0')));
            }
        }
        if out.len() == 1 {
            // "every day", "every hour": drop a leading "1 ".
            if let Some(rest) = out[0].strip_prefix("1 ") {
                return rest.to_string();
            }
        }
        out.join(" ")
    }
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn whole(number: &str, text: &str) -> Result<u32, PeriodError> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PeriodError::Syntax(text.to_string()));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| PeriodError::TooLarge(text.to_string()))?;
    if n > MAX_UNIT {
        return Err(PeriodError::TooLarge(text.to_string()));
    }
    Ok(n as u32)
}

/// Splits "1Y2M" into [("1",'Y'), ("2",'M')].
fn units(s: &str) -> Result<Vec<(&str, char)>, ()> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            continue;
        }
        if !c.is_ascii_alphabetic() || i == start {
            return Err(());
        }
        out.push((&s[start..i], c));
        start = i + c.len_utf8();
    }
    if start != s.len() {
        return Err(());
    }
    Ok(out)
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        for (n, u) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if n != 0 {
                write!(f, "{n}{u}")?;
            }
        }
        if self.hours != 0 || self.minutes != 0 || self.seconds != 0 || self.nanos != 0 {
            f.write_str("T")?;
            if self.hours != 0 {
                write!(f, "{}H", self.hours)?;
            }
            if self.minutes != 0 {
                write!(f, "{}M", self.minutes)?;
            }
            if self.seconds != 0 || self.nanos != 0 {
                if self.nanos == 0 {
                    write!(f, "{}S", self.seconds)?;
                } else {
                    let s = format!("{}.{:09}", self.seconds, self.nanos);
                    write!(f, "{}S", s.trim_end_matches('0'))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_periods() {
        let p = Period::parse("PT1H").unwrap();
        assert_eq!(p.hours, 1);
        assert!(p.is_fixed());
        let p = Period::parse("P1D").unwrap();
        assert_eq!(p.days, 1);
        assert!(!p.is_fixed());
        let p = Period::parse("P1Y2M10DT2H30M").unwrap();
        assert_eq!(
            (p.years, p.months, p.days, p.hours, p.minutes),
            (1, 2, 10, 2, 30)
        );
        let p = Period::parse("PT0.5S").unwrap();
        assert_eq!((p.seconds, p.nanos), (0, 500_000_000));
        assert_eq!(Period::parse("p2w").unwrap().weeks, 2);
    }

    #[test]
    fn rejects_zero_negative_and_garbage() {
        assert!(matches!(Period::parse("P"), Err(PeriodError::Zero(_))));
        assert!(matches!(Period::parse("PT0S"), Err(PeriodError::Zero(_))));
        assert!(matches!(Period::parse("P0D"), Err(PeriodError::Zero(_))));
        assert!(matches!(
            Period::parse("-P1D"),
            Err(PeriodError::Negative(_))
        ));
        for bad in [
            "", "1D", "PT", "P1H", "PT1D", "P1M1Y", "P1.5D", "PTH", "P1DT", "P 1D", "PT1H1H",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} should fail");
        }
        assert!(matches!(
            Period::parse("P99999999D"),
            Err(PeriodError::TooLarge(_))
        ));
    }

    #[test]
    fn displays_canonically_and_in_words() {
        for s in ["PT1H", "P1D", "P1Y2M10DT2H30M", "PT0.5S", "P2W"] {
            assert_eq!(Period::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Period::parse("P1D").unwrap().words(), "day");
        assert_eq!(Period::parse("PT15M").unwrap().words(), "15 minutes");
        assert_eq!(Period::parse("P1DT1H").unwrap().words(), "1 day 1 hour");
    }

    #[test]
    fn fixed_lengths() {
        assert_eq!(
            Period::parse("PT60S").unwrap().as_fixed_nanos(),
            Some(60_000_000_000)
        );
        assert_eq!(
            Period::parse("P1D").unwrap().as_fixed_nanos(),
            Some(86_400_000_000_000)
        );
        assert_eq!(Period::parse("P1M").unwrap().as_fixed_nanos(), None);
    }
}
