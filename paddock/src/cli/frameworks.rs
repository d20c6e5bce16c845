//! `paddock frameworks`: the master's `/master/frameworks` as a table.

use serde_json::Value;

use super::client::Client;
use super::table::{emit, emit_json, num, number, text, yes_no, Table};

pub fn list(c: &Client, json: bool) -> Result<(), String> {
    let v = c.get("/master/frameworks")?;
    if json {
        return emit_json(&v["frameworks"]);
    }
    emit(&render(&v))
}

/// `role`, or the `roles` array joined with commas.
fn role(f: &Value) -> String {
    match f["roles"].as_array() {
        Some(roles) if !roles.is_empty() => roles.iter().map(text).collect::<Vec<_>>().join(","),
        _ => match f["role"].as_str() {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => "*".into(),
        },
    }
}

/// The table for a `/master/frameworks` document.
pub fn render(v: &Value) -> String {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "ROLE",
        "ACTIVE",
        "CONNECTED",
        "TASKS",
        "CPUS",
        "MEM (MB)",
        "DRF SHARE",
    ]);
    for f in v["frameworks"].as_array().into_iter().flatten() {
        let tasks = f["tasks"]
            .as_array()
            .map(|a| a.len().to_string())
            .unwrap_or_else(|| "-".into());
        let share = f["drf_share"]
            .as_f64()
            .map(|s| format!("{s:.3}"))
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            text(&f["id"]),
            text(&f["name"]),
            role(f),
            yes_no(f["active"].as_bool().unwrap_or(false)),
            yes_no(f["connected"].as_bool().unwrap_or(false)),
            tasks,
            number(num(&f["used_resources"]["cpus"])),
            number(num(&f["used_resources"]["mem"])),
            share,
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_mesos_frameworks_document() {
        let v: Value = serde_json::from_str(
            r#"{"frameworks":[
                {"id":"M-0000","name":"spark","user":"root","role":"*","active":true,
                 "connected":true,"used_resources":{"cpus":1.5,"mem":512},
                 "offered_resources":{},"tasks":[{"id":"a"},{"id":"b"}],
                 "registered_time":1.0,"drf_share":0.25},
                {"id":"M-0001","name":"x","user":"u","roles":["a","b"],"active":false,
                 "connected":false,"used_resources":{},"offered_resources":{}}],
              "completed_frameworks":[]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&v),
            "ID      NAME   ROLE  ACTIVE  CONNECTED  TASKS  CPUS  MEM (MB)  DRF SHARE\n\
             M-0000  spark  *     yes     yes        2      1.5   512       0.250\n\
             M-0001  x      a,b   no      no         -      0     0         -\n"
        );
    }
}
