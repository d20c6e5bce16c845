//! `/images`: the agent's image store for operators (`paddock image …`).
//!
//! - `GET /images`: every image with its digest, size, layers, when it was
//!   stored and last used, and the live tasks that use it.
//! - `POST /images/pull` `{"image", "username"?, "password"?, "token"?,
//!   "insecure"?}`: pull from a registry.
//! - `POST /images/import`: the body is a `docker save` archive or an OCI
//!   image-layout tarball (plain or gzip).
//! - `DELETE /images/{reference-or-digest}`: remove an image's name (409
//!   while a live task uses it; its layers go at the next gc).
//! - `POST /images/gc` `{"keep_unused_images"?: bool}`: remove every image
//!   no live task uses (unless `keep_unused_images`), then every blob and
//!   layer no remaining image references.
//!
//! Errors are `{"message", "field"?}` with a 4xx for bad input (5xx for a
//! registry or disk failure). The store is `<work_dir>/images` (or
//! `$PADDOCK_IMAGES_DIR`, as for the executors), opened once per process;
//! its own locks keep it consistent with the executors' pulls.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use paddock_images::{Credentials, Image, ImageError, ImageRef, ImageStore};
use paddock_proto::container::ContainerInfo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::state::Agent;

pub fn routes() -> Router<Arc<Agent>> {
    Router::new()
        .route("/images", get(list))
        .route("/images/pull", post(pull))
        .route("/images/gc", post(gc))
        .route(
            "/images/import",
            post(import).layer(DefaultBodyLimit::disable()),
        )
        .route("/images/{*reference}", axum::routing::delete(remove))
}

/// An error answer: `{"message", "field"?}`.
fn fail(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Response {
    let mut body = json!({ "message": message.into() });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    (status, Json(body)).into_response()
}

/// The status and the input field to blame for a store error; `field` is
/// what names the image in this request.
fn store_error(e: &ImageError, field: &str) -> Response {
    use ImageError as E;
    let (status, field) = match e {
        E::NotFound(_) => (StatusCode::NOT_FOUND, Some(field)),
        E::InvalidReference { .. } => (StatusCode::BAD_REQUEST, Some(field)),
        E::NotInRegistry { .. } => (StatusCode::NOT_FOUND, Some(field)),
        E::Unauthorized { .. } => (StatusCode::FORBIDDEN, Some("credentials")),
        E::RegistryUnreachable { .. } | E::Registry { .. } => (StatusCode::BAD_GATEWAY, None),
        E::BadDigest { .. }
        | E::BadDiffId { .. }
        | E::BadSize { .. }
        | E::InvalidDigest { .. }
        | E::UnsupportedMediaType { .. }
        | E::InvalidJson { .. }
        | E::NoMatchingPlatform { .. }
        | E::CorruptArchive { .. }
        | E::Layer { .. } => (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
        E::OverlayUnavailable(_) | E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    fail(status, e.to_string(), field)
}

fn store_root(agent: &Agent) -> PathBuf {
    match std::env::var_os(crate::executor::oci::IMAGES_DIR_ENV) {
        Some(d) => PathBuf::from(d),
        None => agent.config.work_dir.join("images"),
    }
}

/// The store at `root`, opened once per process (opening sweeps staging
/// areas, which is wasted work on every request).
fn open_store(root: PathBuf) -> Result<ImageStore, ImageError> {
    static STORES: OnceLock<Mutex<HashMap<PathBuf, ImageStore>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut map = stores.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = map.get(&root) {
        return Ok(s.clone());
    }
    let s = ImageStore::open(&root)?;
    map.insert(root, s.clone());
    Ok(s)
}

/// Runs blocking store work with the agent's store.
async fn with_store<T: Send + 'static>(
    agent: &Agent,
    f: impl FnOnce(ImageStore) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageError> {
    let root = store_root(agent);
    tokio::task::spawn_blocking(move || f(open_store(root)?))
        .await
        .unwrap_or_else(|e| Err(join_error(e)))
}

fn join_error(e: tokio::task::JoinError) -> ImageError {
    ImageError::Io {
        context: "image store task".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// (image as the task names it, task id) for every task of a live
/// container and every task not yet terminal: their images must stay.
fn images_in_use(agent: &Agent) -> Vec<(String, String)> {
    let inner = agent.lock();
    let live = inner
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .map(|t| &t.info);
    let contained = inner
        .containers
        .values()
        .flat_map(|c| c.record.tasks.iter().chain(c.queued.iter()));
    let mut out: Vec<(String, String)> = live
        .chain(contained)
        .filter_map(|t| {
            let c = ContainerInfo::from_task(t).ok().flatten()?;
            Some((c.image()?.to_string(), t.task_id.value.clone()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The canonical spelling of a task's image (as the store names images).
fn canonical(reference: &str) -> String {
    ImageRef::parse(reference)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| reference.trim().to_string())
}

/// The ids of the tasks (from [`images_in_use`]) that use `img`.
fn users(img: &Image, in_use: &[(String, String)]) -> Vec<String> {
    let mut v: Vec<String> = in_use
        .iter()
        .filter(|(r, _)| {
            let c = canonical(r);
            c == img.reference || c == img.manifest_digest || r.ends_with(&img.manifest_digest)
        })
        .map(|(_, t)| t.clone())
        .collect();
    v.dedup();
    v
}

fn epoch_secs(t: Option<SystemTime>) -> Value {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| json!(d.as_secs_f64()))
        .unwrap_or(Value::Null)
}

/// One image as `GET /images` shows it.
fn describe(store: &ImageStore, img: &Image, in_use: &[(String, String)]) -> Value {
    json!({
        "reference": img.reference,
        "digest": img.manifest_digest,
        "media_type": img.manifest_media_type,
        "config_digest": img.config_digest,
        "size": img.size(),
        "layers": img.layers.len(),
        "stored": epoch_secs(store.stored_at(img)),
        "last_used": epoch_secs(store.last_used(img)),
        "used_by": users(img, in_use),
    })
}

async fn list(State(agent): State<Arc<Agent>>) -> Response {
    let in_use = images_in_use(&agent);
    let res = with_store(&agent, move |s| {
        let images = s.list()?;
        Ok(images
            .iter()
            .map(|i| describe(&s, i, &in_use))
            .collect::<Vec<_>>())
    })
    .await;
    match res {
        Ok(images) => Json(json!({ "images": images })).into_response(),
        Err(e) => store_error(&e, "store"),
    }
}

/// `POST /images/pull`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullRequest {
    image: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token: Option<String>,
    /// Plain HTTP to this registry (besides loopback, which always is).
    #[serde(default)]
    insecure: bool,
}

/// A 400 answer naming the offending field.
#[derive(Debug)]
struct BadInput {
    message: String,
    field: String,
}

impl BadInput {
    fn new(message: impl Into<String>, field: &str) -> BadInput {
        BadInput {
            message: message.into(),
            field: field.to_string(),
        }
    }
}

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        fail(StatusCode::BAD_REQUEST, self.message, Some(&self.field))
    }
}

/// Parses a JSON body into `T`; the error names the field.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BadInput> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        // A missing or unknown field is named by serde, not by the path.
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|p| inner.strip_prefix(p))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        let field = if path != "." {
            path
        } else {
            named.unwrap_or_else(|| "body".into())
        };
        BadInput::new(format!("invalid request: {inner}"), &field)
    })
}

fn credentials(r: &PullRequest) -> Result<Option<Credentials>, BadInput> {
    let bad = BadInput::new;
    match (&r.username, &r.password, &r.token) {
        (None, None, None) => Ok(None),
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(bad(
            "give either username and password or a token, not both",
            "token",
        )),
        (None, None, Some(t)) if t.is_empty() => Err(bad("token is empty", "token")),
        (None, None, Some(t)) => Ok(Some(Credentials::Bearer(t.clone()))),
        (Some(u), Some(p), None) if !u.is_empty() => Ok(Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        (Some(_), _, None) => Err(bad("username without a password", "password")),
        (None, Some(_), None) => Err(bad("password without a username", "username")),
    }
}

async fn pull(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    let req: PullRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(bad) => return bad.into_response(),
    };
    if req.image.trim().is_empty() {
        return fail(StatusCode::BAD_REQUEST, "image is empty", Some("image"));
    }
    let auth = match credentials(&req) {
        Ok(a) => a,
        Err(bad) => return bad.into_response(),
    };
    let store = match with_store(&agent, Ok).await {
        Ok(s) => s,
        Err(e) => return store_error(&e, "store"),
    };
    // Without credentials in the request: the agent's --docker-config for
    // the image's registry; its --insecure-registries in any case.
    let agent_auth = crate::registry_auth::for_image(&agent.config.registries, None, &req.image);
    let insecure = req.insecure || agent_auth.as_ref().is_ok_and(|a| a.insecure);
    let auth = auth.or_else(|| agent_auth.ok().and_then(|a| a.credentials));
    tracing::info!(image = %req.image, "pulling on request");
    match store.pull_with(&req.image, auth, insecure).await {
        Ok(img) => {
            let in_use = images_in_use(&agent);
            Json(json!({ "image": describe(&store, &img, &in_use) })).into_response()
        }
        Err(e) => store_error(&e, "image"),
    }
}

/// `POST /images/import?name=FILE`: `name` (the archive's file name, say)
/// only labels errors.
#[derive(Debug, Default, Deserialize)]
struct ImportQuery {
    #[serde(default)]
    name: Option<String>,
}

/// What errors call the archive: its `name` (one short line), or "the
/// request body".
fn archive_label(q: &ImportQuery) -> String {
    match q.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => {
            let clean: String = n.chars().filter(|c| !c.is_control()).take(200).collect();
            clean
        }
        _ => "the request body".into(),
    }
}

/// Streams the body into a staging area of the store, then imports it.
async fn import(
    State(agent): State<Arc<Agent>>,
    Query(query): Query<ImportQuery>,
    body: Body,
) -> Response {
    let label = archive_label(&query);
    let store = match with_store(&agent, Ok).await {
        Ok(s) => s,
        Err(e) => return store_error(&e, "store"),
    };
    let s = store.clone();
    let upload = match tokio::task::spawn_blocking(move || s.begin_upload()).await {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return store_error(&e, "store"),
        Err(e) => return store_error(&join_error(e), "store"),
    };
    let mut file = match tokio::fs::File::create(upload.path()).await {
        Ok(f) => f,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    };
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    format!("reading the archive failed after {received} bytes: {e}"),
                    Some("body"),
                )
            }
        };
        received += chunk.len() as u64;
        if let Err(e) = file.write_all(&chunk).await {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot stage the archive: {e}"),
                None,
            );
        }
    }
    if let Err(e) = file.flush().await {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot stage the archive: {e}"),
            None,
        );
    }
    drop(file);
    if received == 0 {
        return fail(
            StatusCode::BAD_REQUEST,
            "the body is empty: send a docker save archive or an OCI image-layout tarball",
            Some("body"),
        );
    }
    let s = store.clone();
    let res = tokio::task::spawn_blocking(move || s.import_upload(upload, &label))
        .await
        .unwrap_or_else(|e| Err(join_error(e)));
    match res {
        Ok(images) => {
            let in_use = images_in_use(&agent);
            let images: Vec<Value> = images
                .iter()
                .map(|i| describe(&store, i, &in_use))
                .collect();
            tracing::info!(count = images.len(), bytes = received, "imported images");
            Json(json!({ "images": images })).into_response()
        }
        Err(e) => store_error(&e, "body"),
    }
}

async fn remove(State(agent): State<Arc<Agent>>, Path(reference): Path<String>) -> Response {
    let reference = reference.trim_start_matches('/').to_string();
    if reference.trim().is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            "no image named: DELETE /images/{reference or digest}",
            Some("reference"),
        );
    }
    let in_use = images_in_use(&agent);
    let res = with_store(&agent, move |s| {
        let img = s.image(&reference)?;
        let by = users(&img, &in_use);
        if !by.is_empty() {
            return Ok(Err(format!(
                "image {} is used by live task(s) {}: kill them first",
                img.reference,
                by.join(", ")
            )));
        }
        let img = s.rm(&img.reference)?;
        Ok(Ok(describe(&s, &img, &[])))
    })
    .await;
    match res {
        Ok(Ok(img)) => Json(json!({ "removed": img })).into_response(),
        Ok(Err(busy)) => fail(StatusCode::CONFLICT, busy, Some("reference")),
        Err(e) => store_error(&e, "reference"),
    }
}

/// `POST /images/gc`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcRequest {
    /// Keep every image; remove only blobs and layers no image uses.
    #[serde(default)]
    keep_unused_images: bool,
}

async fn gc(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    let req: GcRequest = if body.iter().all(u8::is_ascii_whitespace) {
        GcRequest::default()
    } else {
        match parse_body(&body) {
            Ok(r) => r,
            Err(bad) => return bad.into_response(),
        }
    };
    let a = agent.clone();
    let res = with_store(&agent, move |s| {
        let mut kept = Vec::new();
        let report = s.gc_live(!req.keep_unused_images, || {
            // Asked once gc holds the store: tasks that started while it
            // waited for pulls to finish count too.
            let in_use = images_in_use(&a);
            kept = in_use.iter().map(|(r, _)| canonical(r)).collect();
            in_use.into_iter().map(|(r, _)| r).collect()
        })?;
        kept.sort();
        kept.dedup();
        Ok((report, kept))
    })
    .await;
    match res {
        Ok((r, kept)) => Json(json!({
            "images_removed": r.images_removed,
            "blobs_removed": r.blobs_removed,
            "layers_removed": r.layers_removed,
            "bytes_freed": r.bytes_freed,
            "kept_in_use": kept,
        }))
        .into_response(),
        Err(e) => store_error(&e, "store"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_must_be_whole() {
        let req = |u: Option<&str>, p: Option<&str>, t: Option<&str>| PullRequest {
            image: "x".into(),
            username: u.map(Into::into),
            password: p.map(Into::into),
            token: t.map(Into::into),
            insecure: false,
        };
        assert!(matches!(credentials(&req(None, None, None)), Ok(None)));
        assert!(matches!(
            credentials(&req(Some("u"), Some("p"), None)),
            Ok(Some(Credentials::Basic { .. }))
        ));
        assert!(matches!(
            credentials(&req(None, None, Some("t"))),
            Ok(Some(Credentials::Bearer(_)))
        ));
        for bad in [
            req(Some("u"), None, None),
            req(None, Some("p"), None),
            req(Some("u"), Some("p"), Some("t")),
            req(None, None, Some("")),
        ] {
            let err = credentials(&bad).unwrap_err();
            assert!(!err.message.is_empty() && !err.field.is_empty());
        }
    }

    #[test]
    fn bad_bodies_name_the_field() {
        for (body, field) in [
            (&br#"{}"#[..], "image"),
            (br#"{"image": 3}"#, "image"),
            (br#"{"image": "x", "nope": 1}"#, "nope"),
            (br#"not json"#, "body"),
        ] {
            let Err(bad) = parse_body::<PullRequest>(body) else {
                panic!("accepted {body:?}");
            };
            let resp = bad.into_response();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let bytes = rt
                .block_on(axum::body::to_bytes(resp.into_body(), 1 << 16))
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["field"], field, "{v}");
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    #[test]
    fn archive_labels_are_one_short_line() {
        let q = |n: Option<&str>| ImportQuery {
            name: n.map(Into::into),
        };
        assert_eq!(archive_label(&q(Some("bb.tar"))), "bb.tar");
        assert_eq!(archive_label(&q(Some("a\nb"))), "ab");
        assert_eq!(archive_label(&q(Some("  "))), "the request body");
        assert_eq!(archive_label(&q(None)), "the request body");
        assert_eq!(archive_label(&q(Some(&"x".repeat(500)))).len(), 200);
    }

    #[test]
    fn task_images_match_in_any_spelling() {
        let img = Image {
            reference: "docker.io/library/busybox:latest".into(),
            manifest_digest: format!("sha256:{}", "b".repeat(64)),
            manifest_media_type: String::new(),
            config_digest: String::new(),
            config: Default::default(),
            layers: vec![],
        };
        let in_use = vec![
            ("busybox".to_string(), "t1".to_string()),
            (img.manifest_digest.clone(), "t2".to_string()),
            ("other:1".to_string(), "t3".to_string()),
        ];
        assert_eq!(users(&img, &in_use), vec!["t1", "t2"]);
    }
}
