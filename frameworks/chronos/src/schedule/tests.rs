use super::*;
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    ts("2026-01-15T12:00:00Z")
}

fn parse(text: &str, zone: &str) -> Schedule {
    Schedule::parse(text, zone, now()).unwrap()
}

fn local(t: Timestamp, zone: &str) -> String {
    t.in_tz(zone)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[test]
fn iso_unbounded_hourly() {
    let s = parse("R/2026-01-01T00:00:00Z/PT1H", "");
    assert_eq!(s.repeat(), None);
    assert_eq!(s.first_after(None), Some(ts("2026-01-01T00:00:00Z")));
    assert_eq!(
        s.first_after(Some(ts("2026-01-15T12:00:00Z"))),
        Some(ts("2026-01-15T13:00:00Z"))
    );
    assert_eq!(
        s.first_after(Some(ts("2026-01-15T12:30:00Z"))),
        Some(ts("2026-01-15T13:00:00Z"))
    );
    assert_eq!(s.describe(), "every hour UTC");
}

#[test]
fn iso_counts_and_r0() {
    let s = parse("R3/2026-02-01T00:00:00Z/P1D", "");
    assert_eq!(s.repeat(), Some(3));
    assert_eq!(s.next_runs(now(), 10).len(), 3);
    let r0 = parse("R0/2014-01-01T00:00:00Z/PT60M", "");
    assert!(r0.exhausted());
    assert!(r0.next_runs(now(), 5).is_empty());
    assert_eq!(r0.describe(), "never (no runs left)");
}

#[test]
fn empty_start_means_now() {
    let s = parse("R//PT1H", "");
    assert_eq!(s.first_after(None), Some(now()));
    let s = parse("R5//P1D", "Europe/Berlin");
    assert_eq!(s.first_after(None), Some(now()));
}

#[test]
fn start_forms() {
    assert_eq!(
        parse("R/2026-03-01/P1D", "").first_after(None),
        Some(ts("2026-03-01T00:00:00Z"))
    );
    assert_eq!(
        parse("R/2026-03-01T05:50+02:00/P1D", "").first_after(None),
        Some(ts("2026-03-01T03:50:00Z"))
    );
    assert_eq!(
        parse("R/2026-03-01T05:50:00.250Z/P1D", "").first_after(None),
        Some(ts("2026-03-01T05:50:00.25Z"))
    );
    // A time alone is today.
    assert_eq!(
        parse("R/T05:50Z/PT24H", "").first_after(None),
        Some(ts("2026-01-15T05:50:00Z"))
    );
}

#[test]
fn zone_reinterprets_wall_clock_fields() {
    // Chronos reads the fields in scheduleTimeZone and ignores the offset.
    let s = parse("R/2026-01-10T02:00:00Z/P1D", "Europe/Berlin");
    assert_eq!(s.first_after(None), Some(ts("2026-01-10T01:00:00Z")));
    assert_eq!(s.describe(), "every day at 02:00 Europe/Berlin");
}

#[test]
fn render_round_trips() {
    for (text, zone) in [
        ("R/2026-01-10T02:00:00Z/P1D", "Europe/Berlin"),
        ("R5/2026-01-10T02:00:00+05:30/PT6H", ""),
        ("R/2026-03-08T02:30:00/P1D", "America/New_York"),
        ("0 3 * * *", "UTC"),
    ] {
        let s = parse(text, zone);
        let again = Schedule::parse(&s.render(s.repeat()), zone, now()).unwrap();
        assert_eq!(
            s.next_runs(now(), 50),
            again.next_runs(now(), 50),
            "{text} rendered as {}",
            s.render(s.repeat())
        );
    }
    assert_eq!(
        parse("R2/2026-01-10T02:00:00Z/P1D", "Europe/Berlin").render(Some(1)),
        "R1/2026-01-10T02:00:00.000+01:00/P1D"
    );
}

#[test]
fn bad_schedules_are_refused() {
    for (text, zone) in [
        ("R/2026-01-01T00:00:00Z/P", ""),
        ("R/2026-01-01T00:00:00Z/PT0S", ""),
        ("R/2026-01-01T00:00:00Z/-P1D", ""),
        ("R/2026-01-01T00:00:00Z", ""),
        ("Rx/2026-01-01T00:00:00Z/P1D", ""),
        ("R/not-a-date/P1D", ""),
        ("R/1969-12-31T00:00:00Z/P1D", ""),
        ("R/2026-01-01T00:00:00Z/1D", ""),
        ("61 * * * *", ""),
        ("* * * *", ""),
        ("0 0 30 2 *", ""),
        ("0 0 * * * *", ""),
        ("@every 5m", ""),
        ("0 3 * * *", "Mars/Olympus"),
        ("R/2026-01-01T00:00:00Z/P1D", "GMT+99"),
        ("", ""),
    ] {
        assert!(
            Schedule::parse(text, zone, now()).is_err(),
            "{text:?} in {zone:?}"
        );
    }
    assert!(matches!(
        Schedule::parse("0 3 * * *", "Not/AZone", now()),
        Err(ScheduleError::UnknownZone(_))
    ));
}

#[test]
fn cron_forms_and_words() {
    let s = parse("30 2 * * *", "Europe/Berlin");
    assert_eq!(s.describe(), "every day at 02:30 Europe/Berlin");
    let next = s.next_runs(now(), 2);
    assert_eq!(
        next,
        vec![ts("2026-01-16T01:30:00Z"), ts("2026-01-17T01:30:00Z")]
    );
    for nick in ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"] {
        let s = parse(nick, "");
        assert!(s.is_cron());
        assert_eq!(s.next_runs(now(), 3).len(), 3, "{nick}");
        assert!(s.describe().starts_with("every "), "{}", s.describe());
    }
    assert_eq!(
        parse("@hourly", "").first_after(Some(now())),
        Some(ts("2026-01-15T13:00:00Z"))
    );
    assert_eq!(parse("*/15 * * * *", "").describe(), "every 15 minutes UTC");
    // Anything else falls back to croner's words plus the zone.
    assert!(parse("0 9 * * MON-FRI", "UTC").describe().contains("UTC"));
}

// ---- DST: America/New_York springs forward 2026-03-08 02:00 -> 03:00 and
// ---- falls back 2026-11-01 02:00 -> 01:00. Europe/Berlin springs forward
// ---- 2026-03-29 02:00 -> 03:00 and falls back 2026-10-25 03:00 -> 02:00.

#[test]
fn dst_daily_iso_keeps_wall_clock_new_york() {
    let s = parse("R/2026-03-06T09:00:00/P1D", "America/New_York");
    let runs: Vec<String> = s
        .next_runs(ts("2026-03-06T00:00:00Z"), 4)
        .into_iter()
        .map(|t| local(t, "America/New_York"))
        .collect();
    assert_eq!(
        runs,
        [
            "2026-03-06 09:00 EST",
            "2026-03-07 09:00 EST",
            "2026-03-08 09:00 EDT",
            "2026-03-09 09:00 EDT"
        ]
    );
    // PT24H is elapsed time: it moves by an hour on the wall clock.
    let s = parse("R/2026-03-07T09:00:00/PT24H", "America/New_York");
    let runs = s.next_runs(ts("2026-03-07T00:00:00Z"), 2);
    assert_eq!(local(runs[1], "America/New_York"), "2026-03-08 10:00 EDT");
}

#[test]
fn dst_spring_forward_gap_runs_at_first_valid_instant() {
    // 02:30 does not exist on 2026-03-08 in New York: it runs at 03:00 EDT,
    // then back at 02:30 the next day.
    let s = parse("R/2026-03-07T02:30:00/P1D", "America/New_York");
    let runs: Vec<String> = s
        .next_runs(ts("2026-03-07T00:00:00Z"), 3)
        .into_iter()
        .map(|t| local(t, "America/New_York"))
        .collect();
    assert_eq!(
        runs,
        [
            "2026-03-07 02:30 EST",
            "2026-03-08 03:00 EDT",
            "2026-03-09 02:30 EDT"
        ]
    );
    // The same with cron, in Berlin.
    let s = parse("30 2 * * *", "Europe/Berlin");
    let runs: Vec<String> = s
        .next_runs(ts("2026-03-28T00:00:00Z"), 3)
        .into_iter()
        .map(|t| local(t, "Europe/Berlin"))
        .collect();
    assert_eq!(
        runs,
        [
            "2026-03-28 02:30 CET",
            "2026-03-29 03:00 CEST",
            "2026-03-30 02:30 CEST"
        ]
    );
}

#[test]
fn dst_fall_back_overlap_runs_once_at_first_occurrence() {
    // 01:30 happens twice on 2026-11-01 in New York: once, at 01:30 EDT.
    let s = parse("R/2026-10-31T01:30:00/P1D", "America/New_York");
    let runs = s.next_runs(ts("2026-10-31T00:00:00Z"), 3);
    assert_eq!(runs[1], ts("2026-11-01T05:30:00Z"));
    let labels: Vec<String> = runs.iter().map(|t| local(*t, "America/New_York")).collect();
    assert_eq!(
        labels,
        [
            "2026-10-31 01:30 EDT",
            "2026-11-01 01:30 EDT",
            "2026-11-02 01:30 EST"
        ]
    );
    // Cron in Berlin: 02:30 happens twice on 2026-10-25; it runs once, CEST.
    let s = parse("30 2 * * *", "Europe/Berlin");
    let runs: Vec<String> = s
        .next_runs(ts("2026-10-24T00:00:00Z"), 3)
        .into_iter()
        .map(|t| local(t, "Europe/Berlin"))
        .collect();
    assert_eq!(
        runs,
        [
            "2026-10-24 02:30 CEST",
            "2026-10-25 02:30 CEST",
            "2026-10-26 02:30 CET"
        ]
    );
}

#[test]
fn dst_interval_cron_follows_elapsed_time_in_overlap() {
    // */30 in the repeated hour fires on each real occurrence.
    let s = parse("*/30 * * * *", "America/New_York");
    let runs = s.next_runs(ts("2026-11-01T05:00:00Z"), 4); // 01:00 EDT
    assert_eq!(
        runs,
        vec![
            ts("2026-11-01T05:30:00Z"),
            ts("2026-11-01T06:00:00Z"),
            ts("2026-11-01T06:30:00Z"),
            ts("2026-11-01T07:00:00Z")
        ]
    );
}

#[test]
fn months_do_not_drift() {
    let s = parse("R/2026-01-31T00:00:00Z/P1M", "");
    let runs = s.next_runs(ts("2026-01-01T00:00:00Z"), 4);
    assert_eq!(
        runs,
        vec![
            ts("2026-01-31T00:00:00Z"),
            ts("2026-02-28T00:00:00Z"),
            ts("2026-03-31T00:00:00Z"),
            ts("2026-04-30T00:00:00Z")
        ]
    );
    assert_eq!(s.describe(), "every month on day 31 at 00:00 UTC");
}

#[test]
fn mixed_period() {
    let s = parse("R/2026-01-01T00:00:00Z/P1Y2M10DT2H30M", "");
    let runs = s.next_runs(ts("2025-12-31T00:00:00Z"), 2);
    assert_eq!(runs[1], ts("2027-03-11T02:30:00Z"));
}

#[test]
fn slots_between_counts_and_caps() {
    let s = parse("R/2026-01-15T00:00:00Z/PT1H", "");
    let (slots, truncated) = s.slots_between(Some(ts("2026-01-15T00:00:00Z")), now(), 100);
    assert_eq!(slots.len(), 12);
    assert!(!truncated);
    assert_eq!(slots.last(), Some(&now()));
    let (slots, truncated) = s.slots_between(Some(ts("2026-01-15T00:00:00Z")), now(), 3);
    assert_eq!(
        slots,
        vec![
            ts("2026-01-15T10:00:00Z"),
            ts("2026-01-15T11:00:00Z"),
            now()
        ]
    );
    assert!(truncated);
    let c = parse("0 * * * *", "");
    let (slots, truncated) = c.slots_between(Some(ts("2026-01-15T00:00:00Z")), now(), 100);
    assert_eq!(slots.len(), 12);
    assert!(!truncated);
    assert_eq!(c.last_between(None, now()), Some(now()));
}

proptest! {
    #[test]
    fn fuzz_schedule_parser_never_panics(text in "\\PC{0,40}", zone in "[A-Za-z/_+-]{0,20}") {
        let _ = Schedule::parse(&text, &zone, now());
    }

    #[test]
    fn fuzz_iso_shaped_input(r in "R[0-9]{0,3}", start in "[0-9T:Z+.-]{0,25}", period in "P[0-9YMWDTHS.]{0,12}") {
        let text = format!("{r}/{start}/{period}");
        if let Ok(s) = Schedule::parse(&text, "", now()) {
            // Slots are strictly increasing.
            let runs = s.next_runs(now(), 5);
            for w in runs.windows(2) {
                prop_assert!(w[0] < w[1]);
            }
        }
    }

    #[test]
    fn fuzz_cron_shaped_input(fields in proptest::collection::vec("[0-9*/,LW#-]{1,5}", 5)) {
        let text = fields.join(" ");
        if let Ok(s) = Schedule::parse(&text, "Europe/Berlin", now()) {
            let runs = s.next_runs(now(), 3);
            for w in runs.windows(2) {
                prop_assert!(w[0] < w[1]);
            }
        }
    }

    #[test]
    fn iso_slots_are_increasing_and_found_again(days in 1u32..40, hours in 0u32..30, offset_h in 0i64..5000) {
        let text = format!("R/2026-01-01T02:30:00/P{days}DT{hours}H");
        let s = Schedule::parse(&text, "America/New_York", now()).unwrap();
        let t = ts("2026-01-01T00:00:00Z").checked_add(SignedDuration::from_hours(offset_h)).unwrap();
        let next = s.first_after(Some(t)).unwrap();
        prop_assert!(next > t);
        // The slot before `next` is not after t.
        let (before, _) = s.slots_between(None, t, 1);
        if let Some(prev) = before.first() {
            prop_assert!(*prev <= t);
            prop_assert_eq!(s.first_after(Some(*prev)), Some(next));
        }
    }
}
