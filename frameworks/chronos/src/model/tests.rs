use super::*;
use proptest::prelude::*;

#[test]
fn defaults_are_chronos_defaults() {
    let input =
        Job::parse(br#"{"name":"a","command":"true","schedule":"R/2026-01-01T00:00:00Z/PT1H"}"#)
            .unwrap();
    let job = input.job;
    assert!(job.shell);
    assert_eq!(job.retries, 2);
    assert_eq!(job.epsilon, "PT60S");
    assert_eq!((job.cpus, job.mem, job.disk), (0.1, 128.0, 256.0));
    assert!(!job.concurrent);
    assert_eq!(job.policy(), ConcurrencyPolicy::Forbid);
    assert!(input.counters_given.is_empty());
    assert!(!job.is_dependent());
}

#[test]
fn lenient_numbers_and_booleans() {
    let job = Job::parse(
        br#"{"name":"a","cpus":"0.5","mem":"64","disk":10,"shell":"false","retries":"3"}"#,
    )
    .unwrap()
    .job;
    assert_eq!((job.cpus, job.mem, job.disk), (0.5, 64.0, 10.0));
    assert!(!job.shell);
    assert_eq!(job.retries, 3);
}

#[test]
fn errors_name_the_field() {
    let err = Job::parse(br#"{"name":"a","cpus":"lots"}"#).unwrap_err();
    assert!(err.0.starts_with("cpus:"), "{err}");
    let err = Job::parse(br#"{"name":"a","concurrencyPolicy":"SOMETIMES"}"#).unwrap_err();
    assert!(err.0.starts_with("concurrencyPolicy:"), "{err}");
    let err = Job::parse(br#"{"name":"a","environmentVariables":[{"value":"x"}]}"#).unwrap_err();
    assert!(err.0.starts_with("environmentVariables[0]"), "{err}");
    let err = Job::parse(br#"{"command":"x"}"#).unwrap_err();
    assert!(err.0.contains("name"), "{err}");
    assert!(Job::parse(b"[1]").is_err());
    assert!(Job::parse(b"{").is_err());
}

#[test]
fn counters_on_input_are_noticed() {
    let input =
        Job::parse(br#"{"name":"a","successCount":4,"lastError":"2014-03-08T16:57:17.507Z"}"#)
            .unwrap();
    assert_eq!(input.job.success_count, 4);
    assert_eq!(input.counters_given, vec!["successCount", "lastError"]);
}

#[test]
fn wire_form_mirrors_fetch_and_uris_and_uses_chronos_names() {
    let mut job =
        Job::parse(br#"{"name":"a","uris":["http://x/y.tgz"],"concurrencyPolicy":"REPLACE"}"#)
            .unwrap()
            .job;
    let wire = job.to_wire();
    assert_eq!(wire["fetch"][0]["uri"], "http://x/y.tgz");
    assert_eq!(wire["fetch"][0]["extract"], true);
    assert_eq!(wire["concurrencyPolicy"], "REPLACE");
    assert_eq!(wire["concurrent"], false);
    for key in [
        "name",
        "command",
        "shell",
        "arguments",
        "scheduleTimeZone",
        "epsilon",
        "retries",
        "owner",
        "ownerName",
        "description",
        "async",
        "disabled",
        "softError",
        "concurrent",
        "highPriority",
        "cpus",
        "mem",
        "disk",
        "environmentVariables",
        "fetch",
        "uris",
        "constraints",
        "runAsUser",
        "maxCompletionTime",
        "successCount",
        "errorCount",
        "lastSuccess",
        "lastError",
        "errorsSinceLastSuccess",
    ] {
        assert!(wire.get(key).is_some(), "{key} missing from {wire}");
    }
    job.concurrent = true;
    job.concurrency_policy = None;
    assert_eq!(job.to_wire()["concurrencyPolicy"], "ALLOW");
    // The wire form parses back to the same job.
    let again = Job::parse(serde_json::to_vec(&job.to_wire()).unwrap().as_slice())
        .unwrap()
        .job;
    assert_eq!(again.name, job.name);
    assert_eq!(again.policy(), ConcurrencyPolicy::Allow);
}

#[test]
fn backoff_grows_and_caps() {
    let job = Job::named("a");
    assert_eq!(job.backoff_millis(1), 10_000);
    assert_eq!(job.backoff_millis(2), 20_000);
    assert_eq!(job.backoff_millis(3), 40_000);
    assert_eq!(job.backoff_millis(20), 600_000);
}

#[test]
fn container_block() {
    let job = Job::parse(br#"{"name":"a","container":{"image":"busybox","volumes":[{"containerPath":"/x","hostPath":"/y","mode":"RO"}]}}"#)
        .unwrap()
        .job;
    let c = job.container.unwrap();
    assert_eq!(c.kind, "DOCKER");
    assert_eq!(c.network, "HOST");
    assert_eq!(c.volumes[0].host_path.as_deref(), Some("/y"));
}

proptest! {
    #[test]
    fn fuzz_job_json_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Job::parse(&body);
    }

    #[test]
    fn fuzz_job_json_shaped(
        name in "\\PC{0,12}",
        cpus in prop_oneof![Just("1".to_string()), Just("\"x\"".to_string()), Just("null".to_string()), Just("-3".to_string()), Just("[]".to_string())],
        shell in prop_oneof![Just("true"), Just("\"TRUE\""), Just("1"), Just("null")],
        retries in prop_oneof![Just("2"), Just("-1"), Just("1.5"), Just("\"7\""), Just("1e300")],
    ) {
        let body = format!(
            r#"{{"name":{},"cpus":{cpus},"shell":{shell},"retries":{retries},"parents":["p"]}}"#,
            serde_json::to_string(&name).unwrap()
        );
        let _ = Job::parse(body.as_bytes());
    }
}
