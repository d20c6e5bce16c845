//! Compatibility: the real Python `marathon` client (PyPI 0.13.0) drives the API and parses
//! every response. Python is `$PADDOCK_PYTHON`, else /opt/paddock-venv/bin/python; without
//! either (or without the `marathon` package) the test says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PADDOCK_PYTHON").map(PathBuf::from),
        Some(PathBuf::from("/opt/paddock-venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_python_client_parses_every_response() {
    let Some(py) = python() else {
        println!("SKIPPED: no Python found (set PADDOCK_PYTHON or install /opt/paddock-venv with marathon==0.13.0)");
        return;
    };
    let probe = tokio::process::Command::new(&py)
        .args(["-c", "import marathon"])
        .output()
        .await;
    if !probe.is_ok_and(|o| o.status.success()) {
        println!(
            "SKIPPED: {} cannot import the `marathon` package (pip install marathon==0.13.0)",
            py.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::start_in(dir.path()).await;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/marathon_client_compat.py");
    let run = tokio::process::Command::new(&py)
        .arg(&script)
        .arg(&server.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the client script finished")
        .expect("python ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "marathon client failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("ok: every call parsed"), "{stdout}");
    println!("{stdout}");
    server.stop().await;
}
