//! `/files/read`, `/files/browse`, `/files/download`: sandbox files only.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error;
use crate::state::Agent;

/// The most `/files/read` returns at once.
const MAX_READ: u64 = 1 << 20;

/// Resolves `path` and checks it lies inside the agent's sandboxes.
pub fn resolve(work_dir: &Path, path: &str) -> Result<PathBuf, (StatusCode, String)> {
    if path.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "query parameter 'path' is required".into(),
        ));
    }
    let sandboxes = work_dir
        .join("slaves")
        .canonicalize()
        .map_err(|_| (StatusCode::NOT_FOUND, format!("'{path}' not found")))?;
    let real = Path::new(path)
        .canonicalize()
        .map_err(|_| (StatusCode::NOT_FOUND, format!("'{path}' not found")))?;
    if !real.starts_with(&sandboxes) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("'{path}' is outside the sandboxes"),
        ));
    }
    Ok(real)
}

fn int_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, String> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("query parameter '{key}' must be an integer, got '{v}'")),
    }
}

pub async fn read(
    State(agent): State<Arc<Agent>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = q.get("path").cloned().unwrap_or_default();
    let real = match resolve(&agent.config.work_dir, &path) {
        Ok(p) => p,
        Err((s, m)) => return error(s, m),
    };
    let (offset, length) = match (int_param(&q, "offset"), int_param(&q, "length")) {
        (Ok(o), Ok(l)) => (o.unwrap_or(0), l),
        (Err(m), _) | (_, Err(m)) => return error(StatusCode::BAD_REQUEST, m),
    };
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let mut f = std::fs::File::open(&real)?;
        let size = f.metadata()?.len();
        if offset < 0 {
            return Ok((String::new(), size));
        }
        let start = (offset as u64).min(size);
        let want = length
            .map(|l| l.max(0) as u64)
            .unwrap_or(MAX_READ)
            .min(MAX_READ);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        f.take(want).read_to_end(&mut buf)?;
        Ok((String::from_utf8_lossy(&buf).into_owned(), start))
    })
    .await;
    match result {
        Ok(Ok((data, offset))) => Json(json!({"data": data, "offset": offset})).into_response(),
        Ok(Err(e)) => error(
            StatusCode::BAD_REQUEST,
            format!("cannot read '{path}': {e}"),
        ),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "read failed"),
    }
}

pub async fn browse(
    State(agent): State<Arc<Agent>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = q.get("path").cloned().unwrap_or_default();
    let real = match resolve(&agent.config.work_dir, &path) {
        Ok(p) => p,
        Err((s, m)) => return error(s, m),
    };
    let Ok(entries) = std::fs::read_dir(&real) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'{path}' is not a directory"),
        );
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        out.push(json!({
            "path": Path::new(&path).join(e.file_name()).display().to_string(),
            "nlink": md.nlink(),
            "size": md.len(),
            "mode": format!("{:o}", md.mode()),
            "mtime": md.mtime(),
            "uid": md.uid().to_string(),
            "gid": md.gid().to_string(),
        }));
    }
    Json(serde_json::Value::Array(out)).into_response()
}

pub async fn download(
    State(agent): State<Arc<Agent>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = q.get("path").cloned().unwrap_or_default();
    let real = match resolve(&agent.config.work_dir, &path) {
        Ok(p) => p,
        Err((s, m)) => return error(s, m),
    };
    match tokio::fs::read(&real).await {
        Ok(data) => ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response(),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("cannot read '{path}': {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_sandboxes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sb = dir.path().join("slaves/a/frameworks/f");
        std::fs::create_dir_all(&sb).unwrap();
        std::fs::write(sb.join("stdout"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        assert!(resolve(dir.path(), sb.join("stdout").to_str().unwrap()).is_ok());
        let escape = format!("{}/../../../../secret", sb.display());
        assert_eq!(
            resolve(dir.path(), &escape).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            resolve(dir.path(), "/etc/passwd").unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            resolve(dir.path(), "").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            resolve(dir.path(), "/nope/x").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }
}
