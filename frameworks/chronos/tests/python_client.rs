//! Compatibility: the real `chronos-python` 1.2.1 client (import name
//! `chronos`) drives the API over HTTP: add a scheduled and a dependent job,
//! update, list, search, run, stats, graph, metrics, kill, delete.
//! Python comes from $PADDOCK_PYTHON, else /opt/paddock-venv/bin/python; the
//! test is skipped, saying so, only when neither exists.

use std::path::PathBuf;
use std::sync::Arc;

use paddock_chronos::api::router;
use paddock_chronos::service::Service;
use paddock_chronos::store::Store;

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PADDOCK_PYTHON").map(PathBuf::from),
        Some(PathBuf::from("/opt/paddock-venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chronos_python_client_works_unchanged() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED chronos_python_client_works_unchanged: no Python found \
             (set PADDOCK_PYTHON or install /opt/paddock-venv with chronos-python 1.2.1)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (svc, _effects) = Service::open(store, addr.to_string()).unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(Arc::new(svc))).await.unwrap();
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/chronos_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(addr.to_string())
        .output()
        .await
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chronos-python script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("chronos-python OK"), "{stdout}");
}
