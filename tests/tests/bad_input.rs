//! Bad input gets a clear error and changes nothing: HTTP 4xx with a JSON
//! message, task updates with a reason toward subscribed frameworks, and a
//! one-line message with a non-zero exit from the CLI.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{free_port, get_json, http, run_cli, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";

fn post(c: &Cluster, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = http()
        .post(c.url("/api/v1/scheduler"))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let code = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn malformed_calls_get_400_with_a_json_message() {
    let c = Cluster::master(&[]);
    let json_ct = [("Content-Type", "application/json")];
    let (code, body) = post(&c, "{not json", &json_ct);
    assert_eq!(code, 400);
    assert!(
        body["message"].as_str().unwrap().contains("invalid call"),
        "{body}"
    );

    let (code, body) = post(
        &c,
        r#"{"type":"FROBNICATE","framework_id":{"value":"x"}}"#,
        &json_ct,
    );
    assert_eq!(code, 400);
    assert!(body["message"].as_str().unwrap().contains("x"), "{body}");

    let (code, body) = post(
        &c,
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":7}}}"#,
        &json_ct,
    );
    assert_eq!(code, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("subscribe.framework_info.name"),
        "names the field: {body}"
    );

    let (code, _) = post(&c, "{}", &[]);
    assert_eq!(code, 400, "missing Content-Type");
    let (code, _) = post(&c, "{}", &[("Content-Type", "text/plain")]);
    assert_eq!(code, 415);
    let r = http().get(c.url("/api/v1/scheduler")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[test]
fn unknown_call_type_and_wrong_stream_id_are_rejected() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "u", "name": "bad"}),
    );
    let (code, body) = s.call_full(&mut json!({"type": "FROBNICATE"}));
    assert_eq!(code, 400);
    assert!(body.contains("FROBNICATE"), "{body}");
    let (code, body) = post(
        &c,
        &json!({"type": "REVIVE", "framework_id": {"value": s.framework_id}}).to_string(),
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", "not-the-stream"),
        ],
    );
    assert_eq!(code, 400);
    assert!(
        body["message"].as_str().unwrap().contains("stream ID"),
        "{body}"
    );
    let (code, _) = post(
        &c,
        r#"{"type":"REVIVE","framework_id":{"value":"no-such-framework"}}"#,
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", "x"),
        ],
    );
    assert_eq!(code, 400);
}

#[test]
fn launches_that_cannot_happen_are_reported_per_task_and_change_nothing() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "u", "name": "bad-launch"}),
    );
    let offer = s.next_offer(Duration::from_secs(10));

    // Too big for the offer: TASK_ERROR naming the resource.
    assert_eq!(
        s.launch(
            &offer,
            vec![command_task("huge", &offer, "true", 64.0, 32.0)]
        ),
        202
    );
    let st = s.next_update("huge", Duration::from_secs(10));
    assert_eq!(st["state"], "TASK_ERROR");
    assert_eq!(st["reason"], "REASON_TASK_INVALID");
    assert!(st["message"].as_str().unwrap().contains("cpus"), "{st}");

    // The offer was consumed by that call: reusing it is an invalid offer.
    s.launch(
        &offer,
        vec![command_task("late", &offer, "true", 0.1, 32.0)],
    );
    let st = s.next_update("late", Duration::from_secs(10));
    assert_eq!(st["state"], "TASK_LOST");
    assert_eq!(st["reason"], "REASON_INVALID_OFFERS");

    // Duplicate ids: the first launches, the second is refused.
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![
            command_task("twin", &offer, "sleep 30", 0.1, 32.0),
            command_task("twin", &offer, "sleep 30", 0.1, 32.0),
        ],
    );
    let mut saw_error = false;
    let mut saw_running = false;
    for _ in 0..4 {
        let st = s.next_update("twin", Duration::from_secs(20));
        match st["state"].as_str().unwrap() {
            "TASK_ERROR" => {
                assert!(st["message"].as_str().unwrap().contains("already in use"));
                saw_error = true;
            }
            "TASK_RUNNING" => saw_running = true,
            _ => {}
        }
        if saw_error && saw_running {
            break;
        }
    }
    assert!(saw_error && saw_running);
    // Nothing was half-launched: exactly one task exists.
    let tasks = get_json(&c.url("/master/tasks")).unwrap();
    let n = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "twin")
        .count();
    assert_eq!(n, 1);
    let huge = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "huge")
        .count();
    assert_eq!(huge, 0);
}

#[test]
fn invalid_resources_flag_fails_with_one_line() {
    let port = free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let wd = dir.path().display().to_string();
    for bad in ["cpus:four", "cpus", "ports:[9-1]", "cpus:1;cpus:2"] {
        let out = run_cli(
            &[
                "agent",
                "--master",
                "127.0.0.1:1",
                "--port",
                &port,
                "--work-dir",
                &wd,
                "--resources",
                bad,
            ],
            &[],
        );
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("paddock:")).collect();
        assert_eq!(lines.len(), 1, "one line for {bad}: {err}");
        assert!(lines[0].contains("--resources"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
