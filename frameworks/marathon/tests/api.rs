//! The REST API over real HTTP on 127.0.0.1, against the in-memory backend.

mod common;

use common::{client, start_in, Server};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    (start_in(dir.path()).await, dir)
}

async fn send(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client().request(method, format!("{}{}", s.url, path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

async fn get(s: &Server, path: &str) -> (StatusCode, Value) {
    let (st, _, v) = send(s, reqwest::Method::GET, path, None).await;
    (st, v)
}

async fn post(
    s: &Server,
    path: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    send(s, reqwest::Method::POST, path, Some(body)).await
}

async fn put(s: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    let (st, _, v) = send(s, reqwest::Method::PUT, path, Some(body)).await;
    (st, v)
}

async fn delete(s: &Server, path: &str) -> (StatusCode, Value) {
    let (st, _, v) = send(s, reqwest::Method::DELETE, path, None).await;
    (st, v)
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn create_list_show_and_delete_an_app() {
    let (s, _d) = server().await;
    let (st, headers, body) = post(
        &s,
        "/v2/apps",
        json!({"id": "web", "cmd": "sleep 100", "instances": 2, "mem": 16}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(headers["location"], "/web");
    let dep = headers["marathon-deployment-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(body["id"], "/web");
    assert_eq!(body["tasksRunning"], 0);
    assert_eq!(body["deployments"], json!([{"id": dep}]));
    assert_eq!(
        body["portDefinitions"][0]["port"], 10000,
        "a service port was assigned"
    );
    assert!(body["version"].as_str().unwrap().ends_with('Z'));

    let (st, list) = get(&s, "/v2/apps").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["apps"].as_array().unwrap().len(), 1);
    assert_eq!(list["apps"][0]["tasksRunning"], 2);
    assert!(
        list["apps"][0].get("tasks").is_none(),
        "tasks only with embed"
    );
    let (_, list) = get(&s, "/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure").await;
    assert_eq!(list["apps"][0]["tasks"].as_array().unwrap().len(), 2);

    let (st, one) = get(&s, "/v2/apps/web").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        one["app"]["tasks"].as_array().unwrap().len(),
        2,
        "show always embeds tasks"
    );
    assert_eq!(one["app"]["tasks"][0]["servicePorts"], json!([10000]));

    let (st, err) = get(&s, "/v2/apps/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(err, json!({"message": "App '/nope' does not exist"}));

    let (st, _, dup) = post(&s, "/v2/apps", json!({"id": "/web", "cmd": "x"})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(dup["message"], "An app with id [/web] already exists.");

    let (st, res) = delete(&s, "/v2/apps/web").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(keys(&res), vec!["deploymentId", "version"]);
    let (_, list) = get(&s, "/v2/apps").await;
    assert_eq!(list["apps"], json!([]));
    assert!(s.backend.tasks_len() == 0);
}

#[tokio::test]
async fn bad_input_gets_422_or_400_and_changes_nothing() {
    let (s, _d) = server().await;
    let (st, _, body) = post(
        &s,
        "/v2/apps",
        json!({"id": "/a", "cmd": "x", "cpus": -1, "args": ["y"]}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "Object is not valid");
    let details = body["details"].as_array().unwrap();
    assert!(details
        .iter()
        .any(|d| d["path"] == "/cpus" && d["errors"][0] == "got -1.0, expected 0.0 or more"));
    assert!(details.iter().any(|d| d["path"] == "/"
        && d["errors"][0]
            == "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."));

    let (st, _, body) = post(
        &s,
        "/v2/apps",
        json!({"id": "/a", "cmd": "x", "constraints": [["hostname", "SOMETIMES"]]}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["path"], "/constraints(0)");

    let (st, _, body) = post(
        &s,
        "/v2/apps",
        json!({"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "portIndex": 4}]}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["path"], "/healthChecks(0)");

    let (st, _, body) = post(&s, "/v2/apps", json!({"id": "/Bad_Id", "cmd": "x"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["path"], "/id");

    let resp = client()
        .post(format!("{}/v2/apps", s.url))
        .header("content-type", "application/json")
        .body("{\"id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Invalid JSON");

    let (st, _, body) = post(
        &s,
        "/v2/apps",
        json!({"id": "/a", "cmd": "x", "mem": "lots"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["details"],
        json!([{"path": "/mem", "errors": ["error.expected.jsnumber"]}])
    );

    let (_, list) = get(&s, "/v2/apps").await;
    assert_eq!(list["apps"], json!([]));
    assert!(s
        .state
        .store()
        .app_versions(&"/a".into())
        .unwrap()
        .is_empty());
    assert_eq!(
        s.state
            .store()
            .load_root()
            .unwrap()
            .map(|r| r.app_count())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn partial_updates_versions_and_rollback() {
    let (s, _d) = server().await;
    post(
        &s,
        "/v2/apps",
        json!({"id": "/svc", "cmd": "sleep 1", "labels": {"a": "b"}}),
    )
    .await;
    let (_, v1) = get(&s, "/v2/apps/svc").await;
    let v1 = v1["app"].clone();
    tokio::time::sleep(Duration::from_millis(5)).await;

    // Scale: only instances change, lastConfigChangeAt stays.
    let (st, res) = put(&s, "/v2/apps/svc?force=False", json!({"instances": 3})).await;
    assert_eq!(st, StatusCode::OK, "{res}");
    assert_eq!(keys(&res), vec!["deploymentId", "version"]);
    let (_, v2) = get(&s, "/v2/apps/svc").await;
    let v2 = v2["app"].clone();
    assert_eq!(v2["instances"], 3);
    assert_eq!(v2["cmd"], "sleep 1");
    assert_eq!(v2["labels"], json!({"a": "b"}));
    assert_eq!(
        v2["versionInfo"]["lastConfigChangeAt"],
        v1["versionInfo"]["lastConfigChangeAt"]
    );
    assert_ne!(
        v2["versionInfo"]["lastScalingAt"],
        v1["versionInfo"]["lastScalingAt"]
    );
    assert_eq!(
        v2["portDefinitions"], v1["portDefinitions"],
        "service ports stay"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;

    // PATCH a config change; read-only fields sent back are tolerated.
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        "/v2/apps/svc",
        Some(json!({"cmd": "sleep 2", "tasksRunning": 3, "deployments": []})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v3) = get(&s, "/v2/apps/svc").await;
    assert_eq!(v3["app"]["cmd"], "sleep 2");
    assert_ne!(
        v3["app"]["versionInfo"]["lastConfigChangeAt"],
        v1["versionInfo"]["lastConfigChangeAt"]
    );

    let (_, versions) = get(&s, "/v2/apps/svc/versions").await;
    let versions: Vec<String> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(versions.len(), 3);
    assert!(
        versions[0] > versions[1] && versions[1] > versions[2],
        "newest first: {versions:?}"
    );
    assert_eq!(versions[2], v1["version"].as_str().unwrap());
    let (st, old) = get(&s, &format!("/v2/apps/svc/versions/{}", versions[2])).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(old["cmd"], "sleep 1");
    assert!(
        old.get("tasksRunning").is_none(),
        "a version is the bare app"
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, _) = put(&s, "/v2/apps/svc", json!({"version": versions[2]})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, back) = get(&s, "/v2/apps/svc").await;
    assert_eq!(back["app"]["cmd"], "sleep 1");
    assert_eq!(back["app"]["instances"], 1);

    // A full (non-partial) PUT resets unspecified fields to defaults.
    let (st, _) = put(
        &s,
        "/v2/apps/svc?partialUpdate=false",
        json!({"cmd": "sleep 3"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, full) = get(&s, "/v2/apps/svc").await;
    assert_eq!(full["app"]["labels"], json!({}));

    // PUT on a missing app creates it; PATCH does not.
    let (st, _, _) = send(
        &s,
        reqwest::Method::PUT,
        "/v2/apps/fresh",
        Some(json!({"cmd": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        "/v2/apps/ghost",
        Some(json!({"cmd": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nested_ids_filters_and_group_listing() {
    let (s, _d) = server().await;
    post(
        &s,
        "/v2/apps",
        json!({"id": "/prod/web", "cmd": "nginx", "labels": {"env": "prod", "tier": "fe"}}),
    )
    .await;
    post(
        &s,
        "/v2/apps",
        json!({"id": "/prod/db", "cmd": "postgres", "labels": {"env": "prod", "tier": "be"}}),
    )
    .await;
    post(
        &s,
        "/v2/apps",
        json!({"id": "/dev/web", "cmd": "nginx -debug", "labels": {"env": "dev"}}),
    )
    .await;

    let ids = |v: &Value| -> Vec<String> {
        v["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v) = get(&s, "/v2/apps?label=env%3D%3Dprod%2Ctier%21%3Dfe").await;
    assert_eq!(ids(&v), vec!["/prod/db"]);
    let (_, v) = get(&s, "/v2/apps?label=env%20in%20(dev,qa)").await;
    assert_eq!(ids(&v), vec!["/dev/web"]);
    let (_, v) = get(&s, "/v2/apps?cmd=nginx").await;
    assert_eq!(ids(&v), vec!["/dev/web", "/prod/web"]);
    let (_, v) = get(&s, "/v2/apps?id=prod").await;
    assert_eq!(ids(&v), vec!["/prod/db", "/prod/web"]);
    let (st, _) = get(&s, "/v2/apps?label=env%3D%3D").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, v) = get(&s, "/v2/apps/prod/web").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["app"]["id"], "/prod/web");
    let (_, v) = get(&s, "/v2/apps/prod/*").await;
    assert_eq!(v["*"].as_array().unwrap().len(), 2);

    let (st, tree) = get(&s, "/v2/groups").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        keys(&tree),
        vec!["apps", "dependencies", "groups", "id", "pods", "version"]
    );
    assert_eq!(tree["groups"].as_array().unwrap().len(), 2);
    let (_, g) = get(
        &s,
        "/v2/groups/prod?embed=group.apps&embed=group.apps.counts",
    )
    .await;
    assert_eq!(g["apps"].as_array().unwrap().len(), 2);
    assert_eq!(g["apps"][0]["tasksRunning"], 1);
    assert_eq!(g["groups"], json!([]));
    let (st, e) = get(&s, "/v2/groups/nope").await;
    assert_eq!(
        (st, e["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("Group '/nope' does not exist"))
    );
}

#[tokio::test]
async fn deployment_locks_rollback_and_force() {
    let (s, _d) = server().await;
    let (st, headers, _) = post(
        &s,
        "/v2/apps",
        json!({"id": "/held", "cmd": "x", "labels": {"hold": "true"}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let first = headers["marathon-deployment-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, deps) = get(&s, "/v2/deployments").await;
    assert_eq!(deps.as_array().unwrap().len(), 1);
    assert_eq!(deps[0]["id"], first.as_str());
    assert_eq!(deps[0]["affectedApps"], json!(["/held"]));
    assert_eq!(
        deps[0]["steps"][0]["actions"][0],
        json!({"action": "StartApplication", "app": "/held"})
    );

    let (st, body) = put(&s, "/v2/apps/held", json!({"instances": 2})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(body["deployments"], json!([{"id": first}]));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(&format!("/v2/deployments/{first}")));
    let (_, app) = get(&s, "/v2/apps/held").await;
    assert_eq!(
        app["app"]["instances"], 1,
        "a refused change changes nothing"
    );
    assert_eq!(
        s.state
            .store()
            .load_root()
            .unwrap()
            .unwrap()
            .app(&"/held".into())
            .unwrap()
            .instances,
        1
    );

    let (st, _) = put(&s, "/v2/apps/held?force=TRUE", json!({"instances": 2})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, deps) = get(&s, "/v2/deployments").await;
    assert_eq!(deps.as_array().unwrap().len(), 1);
    let second = deps[0]["id"].as_str().unwrap().to_string();
    assert_ne!(second, first);

    // Rollback (force=false): the app goes back to 1 instance with a new deployment.
    let (st, res) = delete(&s, &format!("/v2/deployments/{second}")).await;
    assert_eq!(st, StatusCode::OK, "{res}");
    assert_eq!(keys(&res), vec!["deploymentId", "version"]);
    let (_, app) = get(&s, "/v2/apps/held").await;
    assert_eq!(app["app"]["instances"], 1);

    // Force: just stop, 202 with an empty body.
    put(&s, "/v2/apps/held?force=true", json!({"instances": 5})).await;
    let (_, deps) = get(&s, "/v2/deployments").await;
    let third = deps[0]["id"].as_str().unwrap().to_string();
    let resp = client()
        .delete(format!("{}/v2/deployments/{third}?force=true", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.text().await.unwrap(), "");
    let (_, deps) = get(&s, "/v2/deployments").await;
    assert_eq!(deps, json!([]));
    let (_, app) = get(&s, "/v2/apps/held").await;
    assert_eq!(app["app"]["instances"], 5);

    let (st, e) = delete(&s, "/v2/deployments/unknown").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(e["message"], "DeploymentPlan unknown does not exist");

    // DELETE of an app defaults to force=true, so a held deployment does not block it.
    put(&s, "/v2/apps/held?force=true", json!({"instances": 1})).await;
    let (st, _) = delete(&s, "/v2/apps/held").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn tasks_kill_scale_and_restart() {
    let (s, _d) = server().await;
    post(
        &s,
        "/v2/apps",
        json!({"id": "/k", "cmd": "x", "instances": 3}),
    )
    .await;
    let (_, t) = get(&s, "/v2/apps/k/tasks").await;
    let tasks = t["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 3);
    let task_keys = keys(&tasks[0]);
    for k in [
        "appId",
        "host",
        "id",
        "ports",
        "servicePorts",
        "slaveId",
        "stagedAt",
        "startedAt",
        "state",
        "version",
    ] {
        assert!(task_keys.contains(&k.to_string()), "{k} in {task_keys:?}");
    }
    let text = client()
        .get(format!("{}/v2/tasks", s.url))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text.lines().next().unwrap_or_default().to_string();
    assert!(line.starts_with("k\t10000\t127.0.0.1:"), "{text:?}");
    assert_eq!(line.matches("127.0.0.1:").count(), 3);
    let text = client()
        .get(format!("{}/v2/apps/k/tasks", s.url))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("k\t10000\t"), "{text:?}");
    let t0 = tasks[0]["id"].as_str().unwrap().to_string();
    let t1 = tasks[1]["id"].as_str().unwrap().to_string();

    // Kill one with scale: 2 instances remain, t0 is gone.
    let (st, res) = delete(&s, &format!("/v2/apps/k/tasks/{t0}?scale=true")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(res.get("deploymentId").is_some());
    let (_, app) = get(&s, "/v2/apps/k").await;
    assert_eq!(app["app"]["instances"], 2);
    assert!(!app["app"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == t0.as_str()));

    // Kill one without scale: it is replaced.
    let (st, res) = delete(&s, &format!("/v2/apps/k/tasks/{t1}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(res["task"]["id"], t1.as_str());
    assert_eq!(res["task"]["state"], "TASK_KILLED");
    let (_, t) = get(&s, "/v2/apps/k/tasks").await;
    assert_eq!(t["tasks"].as_array().unwrap().len(), 2);

    let (st, e) = delete(&s, "/v2/apps/k/tasks/k.instance-nope._app.1").await;
    assert_eq!(
        (st, e["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("Task 'k.instance-nope._app.1' does not exist")
        )
    );
    let (st, _) = delete(&s, "/v2/apps/k/tasks?scale=true&wipe=true").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // /v2/tasks with a status filter, and the bulk kill.
    let (_, all) = get(&s, "/v2/tasks?status=running").await;
    assert_eq!(all["tasks"].as_array().unwrap().len(), 2);
    let (_, none) = get(&s, "/v2/tasks?status[]=staging").await;
    assert_eq!(none["tasks"], json!([]));
    let ids: Vec<Value> = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    let (st, _, res) = post(
        &s,
        "/v2/tasks/delete?scale=True",
        json!({"ids": [ids[0].clone()]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(res.get("deploymentId").is_some());
    let (_, app) = get(&s, "/v2/apps/k").await;
    assert_eq!(app["app"]["instances"], 1);
    let (st, _, res) = post(&s, "/v2/tasks/delete", json!({"ids": [ids[1].clone()]})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(res["tasks"].as_array().unwrap().len(), 1);
    let (st, _, _) = post(&s, "/v2/tasks/delete", json!({"ids": ["garbage"]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // DELETE …/tasks?host= kills the tasks on that host.
    let (st, res) = delete(&s, "/v2/apps/k/tasks?host=127.0.0.1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(res["tasks"].as_array().unwrap().len(), 1);

    // Restart gives a new version and new tasks.
    let (_, before) = get(&s, "/v2/apps/k").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, _, res) = post(&s, "/v2/apps/k/restart", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert!(res.get("deploymentId").is_some());
    let (_, after) = get(&s, "/v2/apps/k").await;
    assert_ne!(after["app"]["version"], before["app"]["version"]);
    assert_ne!(
        after["app"]["tasks"][0]["id"],
        before["app"]["tasks"][0]["id"]
    );
    let (st, _, _) = post(&s, "/v2/apps/none/restart", json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn groups_create_scale_dry_run_rollback_delete() {
    let (s, _d) = server().await;
    let group = json!({"id": "/shop", "apps": [{"id": "cart", "cmd": "x", "instances": 2}],
                       "groups": [{"id": "back", "apps": [{"id": "db", "cmd": "y", "dependencies": ["../cart"]}]}]});
    let (st, _, res) = post(&s, "/v2/groups", group.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{res}");
    assert!(res.get("deploymentId").is_some());
    let (_, db) = get(&s, "/v2/apps/shop/back/db").await;
    assert_eq!(db["app"]["dependencies"], json!(["/shop/cart"]));
    let (st, _, e) = post(&s, "/v2/groups", group).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        e["message"],
        "Group /shop is already created. Use PUT to change this group."
    );

    let (_, v1) = get(&s, "/v2/groups/shop").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, _) = put(&s, "/v2/groups/shop", json!({"scaleBy": 2})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, cart) = get(&s, "/v2/apps/shop/cart").await;
    assert_eq!(cart["app"]["instances"], 4);

    let (st, dry) = put(
        &s,
        "/v2/groups/shop?dryRun=true",
        json!({"apps": [{"id": "cart", "cmd": "x", "instances": 1}]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(dry["steps"].as_array().is_some());
    let (_, cart) = get(&s, "/v2/apps/shop/cart").await;
    assert_eq!(cart["app"]["instances"], 4, "a dry run changes nothing");

    let (_, versions) = get(&s, "/v2/groups/shop/versions").await;
    assert!(versions.as_array().unwrap().len() >= 2, "{versions}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, _) = put(&s, "/v2/groups/shop", json!({"version": v1["version"]})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, cart) = get(&s, "/v2/apps/shop/cart").await;
    assert_eq!(cart["app"]["instances"], 2, "rolled back");

    // PUT with apps replaces the group's apps.
    let (st, _) = put(
        &s,
        "/v2/groups/shop",
        json!({"apps": [{"id": "cart2", "cmd": "z"}]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = get(&s, "/v2/apps/shop/cart").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = get(&s, "/v2/apps/shop/back/db").await;
    assert_eq!(st, StatusCode::OK, "sub-groups not named stay");

    let (st, _) = delete(&s, "/v2/groups/shop").await;
    assert_eq!(st, StatusCode::OK);
    let (_, list) = get(&s, "/v2/apps").await;
    assert_eq!(list["apps"], json!([]));
    let (st, _) = delete(&s, "/v2/groups/shop").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn queue_and_delay_reset() {
    let (s, _d) = server().await;
    post(&s, "/v2/apps", json!({"id": "/q", "cmd": "x"})).await;
    s.backend.delay("/q");
    let (_, q) = get(&s, "/v2/queue").await;
    let item = &q["queue"][0];
    assert_eq!(
        keys(item),
        vec!["app", "count", "delay", "processedOffersSummary", "since"]
    );
    assert_eq!(item["app"]["id"], "/q");
    assert_eq!(
        item["processedOffersSummary"]["rejectSummaryLastOffers"][0]["reason"],
        "InsufficientMemory"
    );
    let (_, q) = get(&s, "/v2/queue?embed=lastUnusedOffers").await;
    assert_eq!(q["queue"][0]["lastUnusedOffers"], json!([]));
    let resp = client()
        .delete(format!("{}/v2/queue/q/delay", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (st, e) = delete(&s, "/v2/queue/q/delay").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(e["message"], "Application /q not found in tasks queue.");
}

#[tokio::test]
async fn system_endpoints() {
    let (s, _d) = server().await;
    let resp = client()
        .get(format!("{}/ping", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "pong");
    let resp = client()
        .get(format!("{}/ping", s.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "\"pong\"");

    let (_, info) = get(&s, "/v2/info").await;
    assert_eq!(info["name"], "marathon");
    assert_eq!(info["frameworkId"], "memory-framework");
    assert_eq!(info["http_config"]["http_port"], s.addr.port());
    assert_eq!(info["marathon_config"]["local_port_min"], 10000);
    let (_, leader) = get(&s, "/v2/leader").await;
    assert_eq!(leader["leader"], format!("127.0.0.1:{}", s.addr.port()));

    let (_, m) = get(&s, "/metrics").await;
    for k in [
        "counters",
        "gauges",
        "histograms",
        "meters",
        "timers",
        "version",
    ] {
        assert!(m.get(k).is_some(), "{k}");
    }
    assert_eq!(m["gauges"]["marathon.apps.active.gauge"]["value"], 0.0);
    let prom = client()
        .get(format!("{}/metrics/prometheus", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(prom.contains("marathon_apps_active_gauge 0"), "{prom}");

    let resp = client()
        .post(format!("{}/v2/info", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let (st, e) = get(&s, "/v2/nothing/here").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(e.get("message").is_some());

    let abdicated = {
        let state = s.state.clone();
        tokio::spawn(async move { state.abdicated().await })
    };
    let (st, m) = delete(&s, "/v2/leader").await;
    assert_eq!(
        (st, m["message"].as_str()),
        (StatusCode::OK, Some("Leadership abdicated"))
    );
    tokio::time::timeout(Duration::from_secs(5), abdicated)
        .await
        .expect("abdication noticed")
        .unwrap();
}

/// Reads SSE frames until one of `event_type` arrives (or the deadline passes).
async fn wait_for_event(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    event_type: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut ty = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(t) = line.strip_prefix("event:") {
                    ty = Some(t.trim().to_string());
                }
                if let Some(d) = line.strip_prefix("data:") {
                    data = Some(d.trim().to_string());
                }
            }
            if ty.as_deref() == Some(event_type) {
                return serde_json::from_str(&data.unwrap_or_default()).expect("event json");
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("event in time")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
}

#[tokio::test]
async fn event_stream_with_filters() {
    let (s, _d) = server().await;
    let resp = client()
        .get(format!("{}/v2/events", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    let all = client()
        .get(format!("{}/v2/events", s.url))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), StatusCode::OK);
    let mut all = all.bytes_stream();
    let mut all_buf = String::new();
    let attached = wait_for_event(&mut all, &mut all_buf, "event_stream_attached").await;
    assert_eq!(attached["eventType"], "event_stream_attached");

    let filtered = client()
        .get(format!(
            "{}/v2/events?event_type=group_change_success",
            s.url
        ))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut filtered = filtered.bytes_stream();
    let mut f_buf = String::new();
    // Both streams are subscribed once the attached frame arrived / the response started.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.state.events().subscriber_count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscribers did not attach"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    post(&s, "/v2/apps", json!({"id": "/ev", "cmd": "x"})).await;
    let ev = wait_for_event(&mut all, &mut all_buf, "api_post_event").await;
    assert_eq!(ev["appDefinition"]["id"], "/ev");
    assert_eq!(ev["uri"], "/v2/apps");
    assert!(ev["timestamp"].as_str().unwrap().ends_with('Z'));
    let g = wait_for_event(&mut filtered, &mut f_buf, "group_change_success").await;
    assert_eq!(g["groupId"], "/");
    assert!(
        !f_buf.contains("api_post_event"),
        "the filter keeps other types out"
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let version;
    {
        let s = start_in(dir.path()).await;
        post(&s, "/v2/apps", json!({"id": "/keep/me", "cmd": "x"})).await;
        put(&s, "/v2/apps/keep/me", json!({"instances": 2})).await;
        let (_, app) = get(&s, "/v2/apps/keep/me").await;
        version = app["app"]["version"].clone();
        s.stop().await;
    }
    let s = start_in(dir.path()).await;
    let (st, app) = get(&s, "/v2/apps/keep/me").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(app["app"]["instances"], 2);
    assert_eq!(app["app"]["version"], version);
    let (_, versions) = get(&s, "/v2/apps/keep/me/versions").await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bulk_put_and_patch() {
    let (s, _d) = server().await;
    let (st, res) = put(
        &s,
        "/v2/apps",
        json!([{"id": "/b1", "cmd": "x"}, {"id": "/b2", "cmd": "y"}]),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{res}");
    let (_, list) = get(&s, "/v2/apps").await;
    assert_eq!(list["apps"].as_array().unwrap().len(), 2);
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        "/v2/apps",
        Some(json!([{"id": "/b1", "instances": 3}])),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, b1) = get(&s, "/v2/apps/b1").await;
    assert_eq!(
        (b1["app"]["instances"].as_i64(), b1["app"]["cmd"].as_str()),
        (Some(3), Some("x"))
    );
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        "/v2/apps",
        Some(json!([{"id": "/zz", "instances": 3}])),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = put(
        &s,
        "/v2/apps",
        json!([{"id": "/b3", "cmd": "x", "cpus": -2}]),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["path"], "/(0)/cpus");
}
