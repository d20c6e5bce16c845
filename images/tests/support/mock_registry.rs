//! A small in-process distribution registry (axum) for what the real one
//! cannot do on purpose: Bearer-token auth through a token endpoint, blobs
//! served with the wrong content, manifest lists and odd media types.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use base64::Engine;

pub const TOKEN: &str = "mock-token-1234";

#[derive(Default, Clone)]
pub struct Content {
    /// name -> reference (tag or digest) -> (media type, bytes)
    pub manifests: HashMap<String, HashMap<String, (String, Vec<u8>)>>,
    pub blobs: HashMap<String, Vec<u8>>,
    /// Blob digests served with one byte flipped.
    pub tamper: HashSet<String>,
    /// Basic credentials the token endpoint wants; None = anonymous registry.
    pub bearer: Option<(String, String)>,
}

impl Content {
    pub fn manifest(&mut self, name: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        self.manifests.entry(name.to_string()).or_default().insert(
            reference.to_string(),
            (media_type.to_string(), bytes.to_vec()),
        );
    }

    pub fn blob(&mut self, digest: &str, bytes: &[u8]) {
        self.blobs.insert(digest.to_string(), bytes.to_vec());
    }
}

struct Shared {
    content: Content,
    addr: SocketAddr,
}

pub struct MockRegistry {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockRegistry {
    pub async fn start(content: Content) -> MockRegistry {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared { content, addr });
        let app = Router::new()
            .route("/v2/", get(root))
            .route("/token", get(token))
            .route("/v2/{*rest}", get(object))
            .with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockRegistry { addr, task }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

fn status(code: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn challenge(shared: &Shared) -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(
            "www-authenticate",
            format!(
                "Bearer realm=\"http://{}/token\",service=\"mock\"",
                shared.addr
            ),
        )
        .body(Body::from(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#,
        ))
        .unwrap()
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    shared.content.bearer.is_none()
        || headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

async fn root(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    if !authorized(&shared, &headers) {
        return challenge(&shared);
    }
    status(StatusCode::OK, "{}")
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let Some((user, pass)) = &shared.content.bearer else {
        return status(StatusCode::OK, &format!(r#"{{"token":"{TOKEN}"}}"#));
    };
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    );
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == want => status(StatusCode::OK, &format!(r#"{{"token":"{TOKEN}"}}"#)),
        _ => status(StatusCode::UNAUTHORIZED, r#"{"details":"bad credentials"}"#),
    }
}

async fn object(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    if !authorized(&shared, &headers) {
        return challenge(&shared);
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        let found = shared
            .content
            .manifests
            .get(name)
            .and_then(|m| m.get(reference));
        return match found {
            Some((mt, bytes)) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", mt.as_str())
                .body(Body::from(bytes.clone()))
                .unwrap(),
            None => status(
                StatusCode::NOT_FOUND,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            ),
        };
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        return match shared.content.blobs.get(digest) {
            Some(bytes) => {
                let mut bytes = bytes.clone();
                if shared.content.tamper.contains(digest) {
                    if let Some(b) = bytes.last_mut() {
                        *b ^= 1;
                    }
                }
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/octet-stream")
                    .body(Body::from(bytes))
                    .unwrap()
            }
            None => status(
                StatusCode::NOT_FOUND,
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#,
            ),
        };
    }
    status(StatusCode::NOT_FOUND, "{}")
}
