//! Validation messages and paths.

use super::*;
use crate::model::{AppDefinition, Group, PathId, Timestamp};
use serde_json::{json, Value};

fn check(v: Value) -> Vec<Detail> {
    match app_from_value(v) {
        Err(vs) => details(&vs),
        Ok(mut app) => {
            app.normalize(&PathId::root(), "*");
            details(&validate_app(&app))
        }
    }
}

fn errors_at(d: &[Detail], path: &str) -> Vec<String> {
    d.iter()
        .find(|d| d.path == path)
        .map(|d| d.errors.clone())
        .unwrap_or_default()
}

#[test]
fn a_good_app_has_no_violations() {
    assert_eq!(check(json!({"id": "/ok", "cmd": "sleep 1"})), vec![]);
    assert_eq!(check(json!({"id": "/ok", "args": ["sleep", "1"]})), vec![]);
    assert_eq!(
        check(json!({"id": "/ok", "container": {"type": "DOCKER", "docker": {"image": "nginx"}}})),
        vec![]
    );
}

#[test]
fn invalid_ids() {
    let d = check(json!({"id": "/Bad_Id", "cmd": "x"}));
    assert_eq!(
        errors_at(&d, "/id"),
        vec![format!(
            "must fully match regular expression '{}'",
            crate::model::SEGMENT_PATTERN
        )]
    );
    assert_eq!(
        check(json!({"cmd": "x"})),
        vec![Detail {
            path: "/id".into(),
            errors: vec!["error.path.missing".into()]
        }]
    );
    assert_eq!(
        errors_at(&check(json!({"id": 5, "cmd": "x"})), "/id"),
        vec!["error.expected.jsstring"]
    );
    assert!(!errors_at(&check(json!({"id": "/a/restart", "cmd": "x"})), "/id").is_empty());
}

#[test]
fn negative_resources() {
    let d = check(
        json!({"id": "/a", "cmd": "x", "cpus": -1, "mem": -5, "disk": -0.5, "instances": -1}),
    );
    assert_eq!(
        errors_at(&d, "/cpus"),
        vec!["got -1.0, expected 0.0 or more"]
    );
    assert_eq!(
        errors_at(&d, "/mem"),
        vec!["got -5.0, expected 0.0 or more"]
    );
    assert_eq!(
        errors_at(&d, "/disk"),
        vec!["got -0.5, expected 0.0 or more"]
    );
    assert_eq!(
        errors_at(&d, "/instances"),
        vec!["got -1, expected 0 or more"]
    );
}

#[test]
fn cmd_and_args_together_or_neither() {
    let msg = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";
    assert_eq!(
        errors_at(&check(json!({"id": "/a", "cmd": "x", "args": ["y"]})), "/"),
        vec![msg]
    );
    assert_eq!(errors_at(&check(json!({"id": "/a"})), "/"), vec![msg]);
}

#[test]
fn type_errors_use_play_codes_and_paths() {
    let d = check(json!({"id": "/a", "cmd": "x", "cpus": "lots"}));
    assert_eq!(
        d,
        vec![Detail {
            path: "/cpus".into(),
            errors: vec!["error.expected.jsnumber".into()]
        }]
    );
    let d = check(json!({"id": "/a", "cmd": "x", "healthChecks": [{"portIndex": "zero"}]}));
    assert_eq!(d[0].path, "/healthChecks(0)/portIndex");
    assert_eq!(
        check(json!([1, 2]))[0].errors,
        vec!["error.expected.jsobject"]
    );
    let d = check(json!({"id": "/a", "cmd": "x", "killSelection": "RANDOM"}));
    assert_eq!(d[0].path, "/killSelection");
}

#[test]
fn nulls_mean_not_given() {
    assert_eq!(
        check(json!({"id": "/a", "cmd": "x", "args": null, "env": null, "container": null})),
        vec![]
    );
}

#[test]
fn constraints_get_marathons_messages() {
    let d = check(json!({"id": "/a", "cmd": "x", "constraints": [
        ["hostname", "UNIQUE"], ["hostname", "FOO"], ["hostname"], ["hostname", "UNIQUE", "x"],
        ["rack", "MAX_PER"], ["rack", "GROUP_BY", "many"], ["h", "LIKE"], ["h", "IS", "a b"]
    ]}));
    assert!(errors_at(&d, "/constraints(0)").is_empty());
    assert_eq!(
        errors_at(&d, "/constraints(1)"),
        vec![crate::model::constraint_messages::BAD_OPERATOR]
    );
    assert_eq!(
        errors_at(&d, "/constraints(2)"),
        vec!["Each constraint must have either 2 or 3 fields"]
    );
    assert_eq!(
        errors_at(&d, "/constraints(3)"),
        vec!["UNIQUE does not accept a value"]
    );
    assert_eq!(
        errors_at(&d, "/constraints(4)"),
        vec!["MAX_PER requires an integer value"]
    );
    assert_eq!(
        errors_at(&d, "/constraints(5)"),
        vec!["GROUP BY must define an integer value or else no value at all"]
    );
    assert_eq!(
        errors_at(&d, "/constraints(6)"),
        vec!["LIKE and UNLIKE require a non-empty, regular expression value"]
    );
    assert!(errors_at(&d, "/constraints(7)")[0]
        .starts_with("IS only supports Mesos text and float values"));
}

#[test]
fn bad_health_checks() {
    let d = check(json!({"id": "/a", "cmd": "x", "healthChecks": [
        {"protocol": "GOPHER"},
        {"protocol": "HTTP", "portIndex": 3},
        {"protocol": "TCP", "path": "/health"},
        {"protocol": "COMMAND"},
        {"protocol": "HTTP", "intervalSeconds": 0}
    ]}));
    assert_eq!(
        errors_at(&d, "/healthChecks(0)/protocol"),
        vec!["is not one of (HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP)"]
    );
    assert_eq!(
        errors_at(&d, "/healthChecks(1)"),
        vec!["Health check port indices must address an element of the ports array or container port mappings."]
    );
    assert!(!errors_at(&d, "/healthChecks(2)/path").is_empty());
    assert!(!errors_at(&d, "/healthChecks(3)/command").is_empty());
    assert_eq!(
        errors_at(&d, "/healthChecks(4)/intervalSeconds"),
        vec!["got 0, expected 1 or more"]
    );
    // portIndex 0 with the default port definition is fine.
    assert_eq!(
        check(json!({"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "HTTP"}]})),
        vec![]
    );
    // And with no ports at all it is not.
    let d = check(
        json!({"id": "/a", "cmd": "x", "portDefinitions": [], "healthChecks": [{"protocol": "TCP"}]}),
    );
    assert!(!errors_at(&d, "/healthChecks(0)").is_empty());
}

#[test]
fn upgrade_strategy_bounds() {
    let d = check(
        json!({"id": "/a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.2, "maximumOverCapacity": -0.1}}),
    );
    assert_eq!(
        errors_at(&d, "/upgradeStrategy/minimumHealthCapacity"),
        vec!["is greater than 1"]
    );
    assert_eq!(
        errors_at(&d, "/upgradeStrategy/maximumOverCapacity"),
        vec!["is less than 0"]
    );
}

#[test]
fn other_rules() {
    let d = check(json!({"id": "/a", "cmd": "x", "backoffFactor": 0.5,
        "portDefinitions": [{"port": 70000}, {"port": 80, "name": "a"}, {"port": 80, "name": "a"}],
        "unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 5},
        "readinessChecks": [{"portName": "nope", "intervalSeconds": 5, "timeoutSeconds": 10}],
        "container": {"type": "RKT"}}));
    assert_eq!(
        errors_at(&d, "/backoffFactor"),
        vec!["got 0.5, expected 1.0 or more"]
    );
    assert_eq!(
        errors_at(&d, "/portDefinitions(0)/port"),
        vec!["got 70000, expected between 0 and 65535"]
    );
    assert_eq!(
        errors_at(&d, "/portDefinitions"),
        vec!["Port names must be unique.", "Ports must be unique."]
    );
    assert!(!errors_at(&d, "/unreachableStrategy").is_empty());
    assert!(!errors_at(&d, "/readinessChecks(0)").is_empty());
    assert!(!errors_at(&d, "/readinessChecks(0)/portName").is_empty());
    assert_eq!(
        errors_at(&d, "/container/type"),
        vec!["is not one of (DOCKER, MESOS)"]
    );
    let d = check(json!({"id": "/a", "cmd": "x", "networks": [{"mode": "bogus"}]}));
    assert!(!errors_at(&d, "/networks(0)/mode").is_empty());
}

#[test]
fn details_group_by_path_in_order() {
    let vs = vec![
        Violation::new("/a", "x"),
        Violation::new("/b", "y"),
        Violation::new("/a", "z"),
        Violation::new("/a", "x"),
    ];
    assert_eq!(
        details(&vs),
        vec![
            Detail {
                path: "/a".into(),
                errors: vec!["x".into(), "z".into()]
            },
            Detail {
                path: "/b".into(),
                errors: vec!["y".into()]
            }
        ]
    );
    assert_eq!(
        Violation::new("/id", "m").under("/apps(1)").path,
        "/apps(1)/id"
    );
    assert_eq!(Violation::new("/", "m").under("/apps(1)").path, "/apps(1)");
}

#[test]
fn tree_rules() {
    let t = Timestamp::from_millis(1);
    let mut root = Group::empty_root(t);
    root.put_app(AppDefinition::command("/a", "x"), t);
    root.put_app(AppDefinition::command("/a/b", "x"), t);
    assert!(validate_root(&root)[0]
        .message
        .starts_with("Groups and Applications may not have the same identifier"));
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    assert!(parse_json(b"{").is_err());
    assert!(parse_json(b"").is_err());
    assert!(parse_json(b"{\"id\": \"/a\"}").is_ok());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "[a-zA-Z0-9/_.\\- ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("id".to_string()),
                Just("cmd".to_string()),
                Just("args".to_string()),
                Just("instances".to_string()),
                Just("cpus".to_string()),
                Just("constraints".to_string()),
                Just("healthChecks".to_string()),
                Just("portDefinitions".to_string()),
                Just("container".to_string()),
                Just("upgradeStrategy".to_string()),
                Just("unreachableStrategy".to_string()),
                Just("env".to_string()),
                Just("networks".to_string()),
                Just("readinessChecks".to_string()),
                Just("port".to_string()),
                Just("protocol".to_string()),
                Just("docker".to_string()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(v) = parse_json(&bytes) {
                let _ = check(v);
            }
        }

        #[test]
        fn arbitrary_json_apps_never_panic(v in arb_json()) {
            let _ = check(v.clone());
            let mut obj = json!({"id": "/fuzz"});
            if let (Value::Object(m), Value::Object(extra)) = (&mut obj, v) {
                m.extend(extra);
            }
            let _ = check(obj);
        }
    }
}

#[test]
fn a_pull_config_must_name_one_of_the_apps_secrets_on_the_mesos_containerizer() {
    let app = |kind: &str, pull: Value| {
        json!({"id": "/p", "cmd": "x", "secrets": {"reg": {"source": "/registry/creds"}},
               "container": {"type": kind, "docker": {"image": "r:5000/x", "pullConfig": pull}}})
    };
    assert_eq!(check(app("MESOS", json!({"secret": "reg"}))), vec![]);
    let d = check(app("MESOS", json!({"secret": "nope"})));
    let e = errors_at(&d, "/container/docker/pullConfig/secret");
    assert_eq!(
        e,
        vec!["container.docker.pullConfig.secret references an undefined secret named 'nope'"]
    );
    let d = check(app("MESOS", json!({})));
    assert!(!errors_at(&d, "/container/docker/pullConfig/secret").is_empty());
    let d = check(app("MESOS", json!({"secret": 5})));
    assert!(!errors_at(&d, "/container/docker/pullConfig/secret").is_empty());
    let d = check(app("DOCKER", json!({"secret": "reg"})));
    assert_eq!(
        errors_at(&d, "/container/docker/pullConfig"),
        vec!["pullConfig is not supported with Docker containerizer"]
    );
}

#[test]
fn a_container_network_needs_a_name() {
    let d = check(
        json!({"id": "/n", "cmd": "x", "container": {"type": "MESOS"},
        "networks": [{"mode": "container"}]}),
    );
    assert_eq!(errors_at(&d, "/networks(0)/name").len(), 1, "{d:?}");
    let ok = check(
        json!({"id": "/n", "cmd": "x", "container": {"type": "MESOS"},
        "networks": [{"mode": "container", "name": "blue"}]}),
    );
    assert_eq!(ok, vec![]);
    let bridge = check(
        json!({"id": "/n", "cmd": "x", "container": {"type": "MESOS"},
        "networks": [{"mode": "container/bridge"}]}),
    );
    assert_eq!(bridge, vec![]);
}
