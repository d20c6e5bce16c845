//! The embedded static files. They are compiled into the binary with
//! `include_bytes!`, so the UI works with no network and no build step.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        /// Every file under `/ui/assets/`, by name.
        pub const ASSETS: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!("../assets/", $name)))),*
        ];
    };
}

assets!(
    "style.css",
    "favicon.svg",
    "js/app.js",
    "js/api.js",
    "js/dom.js",
    "js/format.js",
    "js/charts.js",
    "js/cluster.js",
    "js/task.js",
    "js/apps.js",
    "js/appform.js",
    "js/jobs.js",
    "js/graph.js",
);

const INDEX: &[u8] = include_bytes!("../assets/index.html");

/// The content type for a file name, by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// Looks an asset up by its name under `/ui/assets/`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some(body) => (
            [
                (header::CONTENT_TYPE, content_type(&file)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no such asset: {file}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_import_is_embedded() {
        // A module imported by another but missing from the table would
        // 404 in the browser; check the import lines of every script.
        for (name, body) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(body).unwrap_or_default();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let target = spec.trim_start_matches("./");
                let full = format!("js/{target}");
                assert!(find(&full).is_some(), "{name} imports {spec}, not embedded");
            }
        }
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert!(find("../Cargo.toml").is_none());
    }
}
