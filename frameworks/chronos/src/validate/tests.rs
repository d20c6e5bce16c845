use super::*;

fn now() -> Timestamp {
    "2026-01-15T12:00:00Z".parse().unwrap()
}

fn job(body: &str) -> Job {
    Job::parse(body.as_bytes()).unwrap().job
}

fn check(body: &str, endpoint: Endpoint, jobs: &BTreeMap<String, Job>) -> Result<Job, String> {
    let mut j = job(body);
    validate(&mut j, endpoint, jobs, now()).map_err(|e| e.0)?;
    Ok(j)
}

fn jobs(list: &[&str]) -> BTreeMap<String, Job> {
    list.iter()
        .map(|b| {
            let j = job(b);
            (j.name.clone(), j)
        })
        .collect()
}

#[test]
fn names_follow_chronos_rule() {
    assert!(valid_name("my-job.v2_x"));
    for bad in ["", "my job", "a/b", "é", "a:b"] {
        assert!(!valid_name(bad), "{bad}");
    }
    let e = check(
        r#"{"name":"my job","schedule":"R/2026-01-01T00:00:00Z/PT1H"}"#,
        Endpoint::Iso8601,
        &jobs(&[]),
    )
    .unwrap_err();
    assert!(e.starts_with("name:"), "{e}");
}

#[test]
fn field_errors_name_the_field() {
    let none = jobs(&[]);
    let cases = [
        (
            r#"{"name":"a","schedule":"R/2026-01-01T00:00:00Z/PT0S"}"#,
            "schedule:",
        ),
        (
            r#"{"name":"a","schedule":"R/2026-01-01T00:00:00Z/-P1D"}"#,
            "schedule:",
        ),
        (r#"{"name":"a","schedule":"R/garbage/P1D"}"#, "schedule:"),
        (r#"{"name":"a","schedule":"99 * * * *"}"#, "schedule:"),
        (
            r#"{"name":"a","schedule":"@daily","scheduleTimeZone":"Moon/Base"}"#,
            "scheduleTimeZone:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","retries":-1}"#,
            "retries:",
        ),
        (r#"{"name":"a","schedule":"@daily","cpus":-1}"#, "cpus:"),
        (
            r#"{"name":"a","schedule":"@daily","epsilon":"soon"}"#,
            "epsilon:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","startingDeadlineSeconds":-5}"#,
            "startingDeadlineSeconds:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","constraints":[["rack","NEAR","r1"]]}"#,
            "constraints[0]:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","constraints":[["rack","LIKE","("]]}"#,
            "constraints[0]:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","fetch":[{"uri":"http://a"}],"uris":["http://b"]}"#,
            "fetch:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","parents":["b"]}"#,
            "schedule:",
        ),
        (r#"{"name":"a","parents":[]}"#, "parents:"),
        (r#"{"name":"a","parents":["missing"]}"#, "parents:"),
        (r#"{"name":"a","parents":["a"]}"#, "parents:"),
        (
            r#"{"name":"a","schedule":"@daily","retryBackoffFactor":0.5}"#,
            "retryBackoffFactor:",
        ),
        (
            r#"{"name":"a","schedule":"@daily","container":{"type":"LXC","image":"x"}}"#,
            "container.type:",
        ),
    ];
    for (body, field) in cases {
        let e = check(body, Endpoint::Iso8601, &none).unwrap_err();
        assert!(e.starts_with(field), "{body}: {e}");
    }
    let e = check(r#"{"name":"a"}"#, Endpoint::Dependency, &none).unwrap_err();
    assert!(e.starts_with("parents:"), "{e}");
}

#[test]
fn defaults_and_pinned_start() {
    let none = jobs(&[]);
    let j = check(r#"{"name":"a","command":"x"}"#, Endpoint::Iso8601, &none).unwrap();
    assert_eq!(
        j.schedule.as_deref(),
        Some("R1/2026-01-15T12:00:00.000Z/PT24H")
    );
    let j = check(
        r#"{"name":"a","schedule":"R//PT1H"}"#,
        Endpoint::Iso8601,
        &none,
    )
    .unwrap();
    assert_eq!(
        j.schedule.as_deref(),
        Some("R/2026-01-15T12:00:00.000Z/PT1H")
    );
    let j = check(
        r#"{"name":"a","schedule":"R5/2026-01-01T00:00:00Z/PT1H"}"#,
        Endpoint::Iso8601,
        &none,
    )
    .unwrap();
    assert_eq!(j.schedule.as_deref(), Some("R5/2026-01-01T00:00:00Z/PT1H"));
    // Round-tripped fetch+uris that agree are fine.
    check(
        r#"{"name":"a","schedule":"@daily","fetch":[{"uri":"http://a"}],"uris":["http://a"]}"#,
        Endpoint::Iso8601,
        &none,
    )
    .unwrap();
}

#[test]
fn parents_must_exist_and_not_cycle() {
    let graph = jobs(&[
        r#"{"name":"a","schedule":"@daily"}"#,
        r#"{"name":"b","parents":["a"]}"#,
        r#"{"name":"c","parents":["b"]}"#,
    ]);
    check(
        r#"{"name":"d","parents":["a","c"]}"#,
        Endpoint::Dependency,
        &graph,
    )
    .unwrap();
    // b <- c, so b depending on c is a cycle.
    let e = check(
        r#"{"name":"b","parents":["c"]}"#,
        Endpoint::Dependency,
        &graph,
    )
    .unwrap_err();
    assert!(e.starts_with("parents:") && e.contains("cycle"), "{e}");
    let e = check(
        r#"{"name":"d","parents":["a","a"]}"#,
        Endpoint::Dependency,
        &graph,
    )
    .unwrap_err();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn epsilon_lengths() {
    assert_eq!(epsilon_millis("PT60S").unwrap(), 60_000);
    assert_eq!(epsilon_millis("PT1M30S").unwrap(), 90_000);
    assert!(epsilon_millis("P1M").is_err());
}
