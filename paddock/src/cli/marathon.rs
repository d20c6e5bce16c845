//! What every `paddock app …` command shares: app ids and their URLs, and
//! Marathon's error answers turned into one line (422 details as
//! `path: error`, a 409 deployment lock with a hint to use `--force`).

use serde_json::Value;

use super::client::percent_encode;
use super::service::{message_of, Reply};

/// `web` → `/web`; `/prod/web/` → `/prod/web`.
pub fn absolute_id(id: &str) -> String {
    let trimmed = id.trim().trim_matches('/');
    format!("/{trimmed}")
}

/// The URL path of an app: `/v2/apps/prod/web` (each segment encoded).
pub fn app_path(id: &str) -> String {
    format!("/v2/apps{}", percent_encode(&absolute_id(id), true))
}

/// `details` of a Marathon error as `path: error` items. Each entry may
/// carry several errors; a string `details` (a JSON parse error) is one item.
pub fn details(body: &Value) -> Vec<String> {
    match &body["details"] {
        Value::Array(items) => items
            .iter()
            .flat_map(|d| {
                let path = d["path"].as_str().unwrap_or("/").to_string();
                let errors: Vec<String> = match &d["errors"] {
                    Value::Array(e) => e
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect(),
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                };
                if errors.is_empty() {
                    vec![path]
                } else {
                    errors.into_iter().map(|e| format!("{path}: {e}")).collect()
                }
            })
            .collect(),
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// One line for a Marathon error answer. `force` says whether the command
/// takes `--force` (then a 409 lock says so).
pub fn error_line(r: &Reply, force: bool) -> String {
    let mut line = message_of(r);
    let d = details(&r.body);
    if !d.is_empty() {
        line = format!("{}: {}", line.trim_end_matches('.'), d.join("; "));
    }
    // A lock names the deployments that hold it; "already exists" does not.
    let locked = r.body.get("deployments").is_some() || line.contains("locked");
    if r.status == 409 && force && locked {
        line.push_str(" (add --force to cancel the running deployment)");
    }
    line.replace('\n', " ")
}

/// The reply when it is a success, else its error line.
pub fn expect_ok(r: Reply, force: bool) -> Result<Reply, String> {
    if r.ok() {
        Ok(r)
    } else {
        Err(error_line(&r, force))
    }
}

/// The deployment a mutation started: the `Marathon-Deployment-Id`
/// header, else `deploymentId`, else the first of `deployments` (POST).
pub fn deployment_of(r: &Reply) -> Option<String> {
    r.deployment_id
        .clone()
        .or_else(|| r.body["deploymentId"].as_str().map(str::to_string))
        .or_else(|| r.body["deployments"][0]["id"].as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            deployment_id: None,
        }
    }

    #[test]
    fn ids_and_paths() {
        assert_eq!(absolute_id("web"), "/web");
        assert_eq!(absolute_id("/prod/web/"), "/prod/web");
        assert_eq!(app_path("prod/web"), "/v2/apps/prod/web");
        assert_eq!(app_path("/a b"), "/v2/apps/a%20b");
    }

    #[test]
    fn validation_details_are_one_line() {
        let r = reply(
            422,
            json!({"message": "Object is not valid", "details": [
                {"path": "/cpus", "errors": ["got -1.0, expected 0.001 or more"]},
                {"path": "/id", "errors": ["must fully match regular expression", "is bad"]}
            ]}),
        );
        assert_eq!(
            error_line(&r, false),
            "Object is not valid: /cpus: got -1.0, expected 0.001 or more; \
             /id: must fully match regular expression; /id: is bad"
        );
        let r = reply(
            400,
            json!({"message": "Invalid JSON", "details": "Unexpected character\nat 1:2"}),
        );
        assert_eq!(
            error_line(&r, false),
            "Invalid JSON: Unexpected character at 1:2"
        );
    }

    #[test]
    fn a_deployment_lock_suggests_force() {
        let r = reply(
            409,
            json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'.",
                   "deployments": [{"id": "d1"}]}),
        );
        let line = error_line(&r, true);
        assert!(
            line.ends_with("(add --force to cancel the running deployment)"),
            "{line}"
        );
        assert!(!error_line(&r, false).contains("--force"));
        let exists = reply(
            409,
            json!({"message": "An app with id [/x] already exists."}),
        );
        assert_eq!(
            error_line(&exists, true),
            "An app with id [/x] already exists."
        );
    }

    #[test]
    fn deployments_come_from_header_or_body() {
        let mut r = reply(200, json!({"deploymentId": "d2", "version": "v"}));
        assert_eq!(deployment_of(&r).as_deref(), Some("d2"));
        r.deployment_id = Some("d1".into());
        assert_eq!(deployment_of(&r).as_deref(), Some("d1"));
        let created = reply(201, json!({"id": "/x", "deployments": [{"id": "d3"}]}));
        assert_eq!(deployment_of(&created).as_deref(), Some("d3"));
        assert_eq!(deployment_of(&reply(200, json!({}))), None);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON, biased towards Marathon's error keys.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a-z\n ]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("message".to_string()),
                        Just("details".to_string()),
                        Just("path".to_string()),
                        Just("errors".to_string()),
                        Just("deployments".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any error body becomes exactly one line, without panicking.
        #[test]
        fn any_error_body_is_one_line(status in 400u16..600, body in json_value(), force: bool) {
            let r = Reply { status, body: body.clone(), deployment_id: None };
            let line = error_line(&r, force);
            prop_assert!(!line.contains('\n'));
            prop_assert!(!line.is_empty());
            let _ = deployment_of(&r);
            let _ = crate::cli::deploy_wait::describe(&body, &[]);
            let _ = crate::cli::deploy_wait::rival(&body, "x", &["/a".into()]);
        }
    }
}
