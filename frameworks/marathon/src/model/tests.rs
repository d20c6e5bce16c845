//! Model tests: Marathon's documented examples round-trip, defaults, normalization, versions,
//! group operations and service ports.

use super::*;
use serde_json::{json, Value};

/// The full app example of Marathon's RAML (R/v2/examples/app.json), abridged where it uses
/// deprecated forms we test separately.
fn example_app() -> Value {
    json!({
      "id": "/foo", "instances": 2, "cmd": "sleep 1000", "cpus": 0.1, "disk": 0, "mem": 16,
      "acceptedResourceRoles": ["mesos_role"],
      "backoffFactor": 1.15, "backoffSeconds": 1,
      "constraints": [["hostname", "LIKE", "srv2.*"]],
      "container": {
        "docker": {"forcePullImage": false, "image": "mesosphere:marathon/latest", "network": "BRIDGE",
                   "parameters": [{"key": "name", "value": "kdc"}],
                   "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp", "servicePort": 10019,
                                     "name": "http", "labels": {"vip": "192.168.0.1:80"}}],
                   "privileged": false},
        "type": "DOCKER",
        "volumes": [{"containerPath": "/docker_storage", "hostPath": "/hdd/tools/docker/registry", "mode": "RW"}]
      },
      "dependencies": ["/prod/group"],
      "env": {"XPS1": "Test", "XPS2": "Rest", "DB": {"secret": "db"}},
      "executor": "",
      "healthChecks": [{"gracePeriodSeconds": 300, "ignoreHttp1xx": false, "intervalSeconds": 20,
                        "maxConsecutiveFailures": 3, "path": "/", "portIndex": 0, "protocol": "HTTP",
                        "timeoutSeconds": 20}],
      "readinessChecks": [{"name": "myReadyCheck", "protocol": "HTTP", "path": "/v1/plan", "portName": "http",
                           "intervalSeconds": 10, "timeoutSeconds": 5, "httpStatusCodesForReady": [200],
                           "preserveLastResponse": false}],
      "labels": {"owner": "zeus", "note": "Away from olympus"},
      "maxLaunchDelaySeconds": 3600,
      "requirePorts": false,
      "upgradeStrategy": {"maximumOverCapacity": 1, "minimumHealthCapacity": 1},
      "fetch": [{"uri": "https://foo.com/setup.py"},
                {"uri": "https://foo.com/archive.zip", "executable": false, "extract": true, "cache": true}],
      "user": "root"
    })
}

#[test]
fn marathon_example_reads_normalizes_and_round_trips() {
    let mut app: AppDefinition = serde_json::from_value(example_app()).unwrap();
    app.normalize(&PathId::root(), "*");
    assert_eq!(app.id.to_string(), "/foo");
    assert_eq!(app.instances, 2);
    assert_eq!(
        app.constraints[0].parse().unwrap().operator,
        ConstraintOperator::Like
    );
    // docker.network BRIDGE became a network; docker.portMappings moved to the container.
    assert_eq!(
        app.networks,
        vec![Network {
            mode: "container/bridge".into(),
            name: None,
            labels: Labels::new()
        }]
    );
    assert_eq!(app.port_mappings().len(), 1);
    assert_eq!(app.port_definitions, None);
    assert_eq!(app.service_ports(), vec![10019]);
    assert_eq!(
        app.env["DB"],
        EnvValue::Secret {
            secret: "db".into()
        }
    );
    assert!(app.fetch[0].extract && !app.fetch[0].cache && app.fetch[1].cache);

    let out = serde_json::to_value(&app).unwrap();
    // Deprecated forms are never written; the container keeps only keys 0.13.0 clients know.
    assert!(
        out.get("ports").is_none() && out.get("uris").is_none() && out.get("ipAddress").is_none()
    );
    let docker = &out["container"]["docker"];
    assert!(docker.get("network").is_none() && docker.get("portMappings").is_none());
    assert_eq!(out["container"]["portMappings"][0]["servicePort"], 10019);
    assert_eq!(out["maxLaunchDelaySeconds"], 3600);
    assert_eq!(out["env"]["DB"], json!({"secret": "db"}));
    assert_eq!(out["healthChecks"][0]["intervalSeconds"], 20);
    // And what we write reads back to the same definition.
    let back: AppDefinition = serde_json::from_value(out).unwrap();
    assert_eq!(back, app);
}

#[test]
fn defaults_are_marathons() {
    let mut app: AppDefinition =
        serde_json::from_value(json!({"id": "web", "cmd": "sleep 1"})).unwrap();
    app.normalize(&PathId::parse("/prod"), "*");
    let v = serde_json::to_value(&app).unwrap();
    assert_eq!(v["id"], "/prod/web");
    assert_eq!(v["instances"], 1);
    assert_eq!(v["cpus"], 1.0);
    assert_eq!(v["mem"], 128.0);
    assert_eq!(v["disk"], 0.0);
    assert_eq!(v["gpus"], 0);
    assert_eq!(v["executor"], "");
    assert_eq!(v["backoffSeconds"], 1);
    assert_eq!(v["backoffFactor"], 1.15);
    assert_eq!(v["maxLaunchDelaySeconds"], 300);
    assert_eq!(v["requirePorts"], false);
    assert_eq!(v["killSelection"], "YOUNGEST_FIRST");
    assert_eq!(
        v["unreachableStrategy"],
        json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
    );
    assert_eq!(
        v["upgradeStrategy"],
        json!({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0})
    );
    assert_eq!(v["networks"], json!([{"mode": "host"}]));
    assert_eq!(
        v["portDefinitions"],
        json!([{"port": 0, "protocol": "tcp", "name": "default", "labels": {}}])
    );
    assert_eq!(v["role"], "*");
    for absent in [
        "args",
        "user",
        "container",
        "acceptedResourceRoles",
        "taskKillGracePeriodSeconds",
        "tty",
        "check",
    ] {
        assert!(
            v.get(absent).is_none(),
            "{absent} must not be written when unset"
        );
    }
}

#[test]
fn deprecated_ports_and_uris_are_folded() {
    let mut app: AppDefinition = serde_json::from_value(
        json!({"id": "/a", "cmd": "x", "ports": [0, 8080], "uris": ["http://x/y.tgz"]}),
    )
    .unwrap();
    app.normalize(&PathId::root(), "*");
    assert_eq!(
        app.port_definitions()
            .iter()
            .map(|p| p.port)
            .collect::<Vec<_>>(),
        vec![0, 8080]
    );
    assert_eq!(app.fetch, vec![FetchUri::new("http://x/y.tgz")]);
}

#[test]
fn unreachable_strategy_forms() {
    let d: UnreachableStrategy = serde_json::from_value(json!("disabled")).unwrap();
    assert_eq!(d, UnreachableStrategy::Disabled);
    assert_eq!(serde_json::to_value(d).unwrap(), json!("disabled"));
    let e: UnreachableStrategy =
        serde_json::from_value(json!({"inactiveAfterSeconds": 5})).unwrap();
    assert_eq!(
        e,
        UnreachableStrategy::Enabled {
            inactive_after_seconds: 5,
            expunge_after_seconds: 0
        }
    );
    assert!(serde_json::from_value::<UnreachableStrategy>(json!("sometimes")).is_err());
}

#[test]
fn health_check_defaults_fill_port_index_and_path() {
    let mut app: AppDefinition = serde_json::from_value(json!({
        "id": "/a", "cmd": "x",
        "healthChecks": [{"protocol": "http"}, {"protocol": "COMMAND", "command": {"value": "true"}}, {"protocol": "TCP", "port": 80}]
    }))
    .unwrap();
    app.normalize(&PathId::root(), "*");
    let h = &app.health_checks;
    assert_eq!(
        (
            h[0].protocol.as_str(),
            h[0].port_index,
            h[0].path.as_deref()
        ),
        ("HTTP", Some(0), Some("/"))
    );
    assert_eq!(
        (
            h[0].grace_period_seconds,
            h[0].interval_seconds,
            h[0].timeout_seconds
        ),
        (300, 60, 20)
    );
    assert_eq!(h[0].max_consecutive_failures, 3);
    assert_eq!((h[1].port_index, h[1].path.as_deref()), (None, None));
    assert_eq!(
        (h[2].port_index, h[2].port, h[2].path.as_deref()),
        (None, Some(80), None)
    );
}

#[test]
fn versions_follow_scale_and_config_changes() {
    let t1 = Timestamp::from_millis(1_000);
    let t2 = Timestamp::from_millis(2_000);
    let t3 = Timestamp::from_millis(3_000);
    let mut v1 = AppDefinition::command("/a", "sleep 1");
    v1.stamp_version(None, t1);
    assert_eq!(
        v1.version_info(),
        VersionInfo {
            last_scaling_at: t1,
            last_config_change_at: t1
        }
    );

    let mut same = v1.clone();
    same.stamp_version(Some(&v1), t2);
    assert_eq!(same.version, t1, "an unchanged app keeps its version");

    let mut scaled = AppDefinition {
        instances: 3,
        ..v1.clone()
    };
    assert!(v1.is_only_scale_change(&scaled) && !v1.needs_restart(&scaled));
    scaled.stamp_version(Some(&v1), t2);
    assert_eq!(scaled.version, t2);
    assert_eq!(
        scaled.version_info(),
        VersionInfo {
            last_scaling_at: t2,
            last_config_change_at: t1
        }
    );

    let mut changed = AppDefinition {
        cmd: Some("sleep 2".into()),
        ..scaled.clone()
    };
    assert!(scaled.needs_restart(&changed));
    changed.stamp_version(Some(&scaled), t3);
    assert_eq!(
        changed.version_info(),
        VersionInfo {
            last_scaling_at: t3,
            last_config_change_at: t3
        }
    );
    let json = serde_json::to_value(&changed).unwrap();
    assert_eq!(json["version"], "1970-01-01T00:00:03.000Z");
    assert_eq!(
        json["versionInfo"]["lastConfigChangeAt"],
        "1970-01-01T00:00:03.000Z"
    );
}

#[test]
fn group_tree_operations() {
    let t = Timestamp::from_millis(5);
    let mut root = Group::empty_root(t);
    root.put_app(AppDefinition::command("/prod/web/api", "x"), t);
    root.put_app(AppDefinition::command("/prod/db", "x"), t);
    root.put_app(AppDefinition::command("/top", "x"), t);
    assert!(root.app(&PathId::parse("/prod/web/api")).is_some());
    assert!(root.group(&PathId::parse("/prod/web")).is_some());
    assert!(root.app(&PathId::parse("/prod/web")).is_none());
    assert_eq!(root.app_count(), 3);
    assert_eq!(
        root.group(&PathId::parse("/prod")).map(Group::app_count),
        Some(2)
    );

    let json = serde_json::to_value(&root).unwrap();
    assert_eq!(json["id"], "/");
    assert_eq!(json["groups"][0]["id"], "/prod");
    assert_eq!(
        json["groups"][0]["groups"][0]["apps"][0]["id"],
        "/prod/web/api"
    );
    assert_eq!(json["pods"], json!([]));
    assert!(json.get("enforceRole").is_none());
    let back: Group = serde_json::from_value(json).unwrap();
    assert_eq!(back, root);

    assert!(root.remove_app(&PathId::parse("/prod/db")).is_some());
    assert!(root.remove_group(&PathId::parse("/prod")).is_some());
    assert_eq!(root.app_count(), 1);
}

#[test]
fn group_versions_move_only_when_content_changes() {
    let t1 = Timestamp::from_millis(1);
    let t2 = Timestamp::from_millis(2);
    let mut old = Group::empty_root(t1);
    old.put_app(AppDefinition::command("/a/x", "x"), t1);
    old.put_app(AppDefinition::command("/b/y", "y"), t1);
    let prev = old.clone();
    old.stamp_versions(&Group::empty_root(t1), t1);
    let prev_stamped = old.clone();
    let mut next = prev_stamped.clone();
    next.put_app(
        AppDefinition {
            instances: 2,
            ..prev.app(&PathId::parse("/a/x")).unwrap().clone()
        },
        t2,
    );
    next.stamp_versions(&prev_stamped, t2);
    assert_eq!(next.version, t2);
    assert_eq!(next.group(&PathId::parse("/a")).unwrap().version, t2);
    assert_eq!(next.group(&PathId::parse("/b")).unwrap().version, t1);
    assert_eq!(next.app(&PathId::parse("/b/y")).unwrap().version, t1);
}

#[test]
fn service_ports_are_unique_and_sticky() {
    let t = Timestamp::from_millis(1);
    let mut root = Group::empty_root(t);
    let mut a = AppDefinition::command("/a", "x");
    a.port_definitions = Some(vec![PortDefinition::new(0), PortDefinition::new(10001)]);
    root.put_app(a, t);
    root.put_app(AppDefinition::command("/b", "x"), t);
    root.assign_service_ports(&Group::empty_root(t)).unwrap();
    let pa = root.app(&PathId::parse("/a")).unwrap().service_ports();
    let pb = root.app(&PathId::parse("/b")).unwrap().service_ports();
    assert_eq!(pa, vec![10000, 10001]);
    assert_eq!(pb, vec![10002]);

    // A new version with port 0 again keeps the port it had.
    let prev = root.clone();
    let mut b2 = AppDefinition::command("/b", "y");
    b2.port_definitions = Some(vec![PortDefinition::new(0)]);
    root.put_app(b2, t);
    root.put_app(AppDefinition::command("/c", "x"), t);
    root.assign_service_ports(&prev).unwrap();
    assert_eq!(
        root.app(&PathId::parse("/b")).unwrap().service_ports(),
        vec![10002]
    );
    assert_eq!(
        root.app(&PathId::parse("/c")).unwrap().service_ports(),
        vec![10003]
    );
}

#[test]
fn dependency_cycles_are_found() {
    let t = Timestamp::from_millis(1);
    let mut root = Group::empty_root(t);
    let mut a = AppDefinition::command("/a", "x");
    a.dependencies = vec![PathId::parse("/b")];
    let mut b = AppDefinition::command("/b", "x");
    b.dependencies = vec![PathId::parse("/c")];
    root.put_app(a, t);
    root.put_app(b.clone(), t);
    root.put_app(AppDefinition::command("/c", "x"), t);
    assert_eq!(root.dependency_cycle(), None);
    let mut c = AppDefinition::command("/c", "x");
    c.dependencies = vec![PathId::parse("/a")];
    root.put_app(c, t);
    let cycle = root.dependency_cycle().unwrap();
    assert_eq!(cycle.len(), 3);
}

#[test]
fn scale_by_rounds_up() {
    let t = Timestamp::from_millis(1);
    let mut root = Group::empty_root(t);
    root.put_app(
        AppDefinition {
            instances: 3,
            ..AppDefinition::command("/g/a", "x")
        },
        t,
    );
    root.scale_by(1.5);
    assert_eq!(root.app(&PathId::parse("/g/a")).unwrap().instances, 5);
}
