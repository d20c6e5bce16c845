//! A standalone `paddock master` for the benches that run their own
//! frameworks or simulated agents against it.

use std::path::Path;
use std::time::Duration;

use paddock_tests::{free_port, http, spawn, wait_for, Proc};

/// Spawns `paddock master` on 127.0.0.1 and a free port, with `data_dir`,
/// Marathon and Chronos off and the `extra` flags, its log `master.log` in
/// `log_dir`; waits (up to 30 s) until `/health` answers. Returns the
/// process and its `host:port`.
pub fn start_master(log_dir: &Path, data_dir: &Path, extra: &[&str]) -> (Proc, String) {
    let port = free_port();
    let mut args: Vec<String> = [
        "master",
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--data-dir",
        &data_dir.display().to_string(),
        "--marathon-port",
        "0",
        "--chronos-port",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let proc = spawn("master", &args, &log_dir.join("master.log"));
    let addr = format!("127.0.0.1:{port}");
    wait_for("the master's /health", Duration::from_secs(30), || {
        http()
            .get(format!("http://{addr}/health"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    (proc, addr)
}
