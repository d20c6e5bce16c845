//! The schedule preview behind the job form: the schedule in words and its
//! next runs, in the job's zone, computed by Chronos's own parser so the
//! form shows exactly what the scheduler will do.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::Timestamp;
use paddock_chronos::schedule::Schedule;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub tz: String,
    #[serde(default)]
    pub count: Option<usize>,
}

/// The preview as JSON: `{"description", "zone", "next": [{"utc", "local"}]}`,
/// or `{"message"}` naming what is wrong with the schedule.
pub fn preview(schedule: &str, tz: &str, count: usize, now: Timestamp) -> Result<Value, String> {
    let s = Schedule::parse(schedule, tz, now).map_err(|e| e.to_string())?;
    let zone = s.time_zone().clone();
    let next: Vec<Value> = s
        .next_runs(now, count.min(20))
        .into_iter()
        .map(|t| {
            let local = t.to_zoned_datetime(zone.clone());
            json!({
                "utc": t.to_string(),
                "local": local.strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string(),
            })
        })
        .collect();
    Ok(json!({
        "description": s.describe(),
        "zone": s.zone_label(),
        "next": next,
    }))
}

pub async fn handler(Query(q): Query<PreviewQuery>) -> Response {
    match preview(&q.schedule, &q.tz, q.count.unwrap_or(5), Timestamp::now()) {
        Ok(v) => Json(v).into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "field": "schedule", "message": message })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn hourly_iso_gives_five_runs_in_order() {
        let now = at("2026-01-01T00:30:00Z");
        let v = preview("R/2026-01-01T00:00:00Z/PT1H", "", 5, now).unwrap_or_default();
        let next = v["next"].as_array().cloned().unwrap_or_default();
        assert_eq!(next.len(), 5);
        assert_eq!(next[0]["utc"], "2026-01-01T01:00:00Z");
        assert_eq!(next[4]["utc"], "2026-01-01T05:00:00Z");
    }

    #[test]
    fn cron_in_a_zone_is_shown_in_that_zone() {
        let now = at("2026-01-01T00:00:00Z");
        let v = preview("0 2 * * *", "Europe/Berlin", 2, now).unwrap_or_default();
        assert_eq!(v["next"][0]["utc"], "2026-01-01T01:00:00Z");
        let local = v["next"][0]["local"].as_str().unwrap_or_default();
        assert!(local.contains("02:00:00"), "{local}");
    }

    #[test]
    fn bad_schedules_are_explained() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(preview("R/2026-01-01T00:00:00Z/PX", "", 5, now).is_err());
        assert!(preview("0 2 * * *", "Mars/Olympus", 5, now).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_schedules_never_panic(s in ".{0,40}", tz in "[A-Za-z/_]{0,20}") {
            let _ = preview(&s, &tz, 5, at("2026-01-01T00:00:00Z"));
        }
    }
}
