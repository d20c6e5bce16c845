//! A `paddock dev` for one bench run (master and agent in one process, on
//! free ports, with its data dir and `dev.log` in a fresh temp dir and its
//! own cgroup root), and the cleanup of what its tasks leave behind.

use std::path::PathBuf;
use std::time::Duration;

use paddock_tests::{free_port, get_json, kill_cgroup_tree, spawn, wait_for, Proc};

/// A running `paddock dev`. Nothing happens on drop: [`Dev::stop`] ends it.
pub struct Dev {
    pub proc: Proc,
    /// Its data dir; `dev.log` is in it too.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>` of the master.
    pub master: String,
    pub master_port: u16,
    pub agent_port: u16,
    pub cgroup_root: String,
}

impl Dev {
    /// Spawns `paddock dev` with `--cgroup-root cgroup_root`, `--resources
    /// resources` and the `extra` flags (e.g. the framework ports), without
    /// waiting for it.
    pub fn spawn(cgroup_root: &str, resources: &str, extra: &[&str]) -> Dev {
        let dir = tempfile::tempdir().expect("tempdir");
        let (master_port, agent_port) = (free_port(), free_port());
        let mut args: Vec<String> = [
            "dev",
            "--data-dir",
            &dir.path().display().to_string(),
            "--master-port",
            &master_port.to_string(),
            "--agent-port",
            &agent_port.to_string(),
            "--cgroup-root",
            cgroup_root,
            "--resources",
            resources,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc = spawn("dev", &args, &dir.path().join("dev.log"));
        Dev {
            proc,
            dir,
            master: format!("127.0.0.1:{master_port}"),
            master_port,
            agent_port,
            cgroup_root: cgroup_root.to_string(),
        }
    }

    /// [`Dev::spawn`], then waits until its agent is registered.
    pub fn start(cgroup_root: &str, resources: &str, extra: &[&str]) -> Dev {
        let dev = Dev::spawn(cgroup_root, resources, extra);
        dev.wait_for_agent();
        dev
    }

    /// Waits (up to 60 s) until the master lists its one agent.
    pub fn wait_for_agent(&self) {
        wait_for("paddock dev", Duration::from_secs(60), || {
            let s = get_json(&format!("http://{}/master/slaves", self.master))?;
            (s["slaves"].as_array()?.len() == 1).then_some(())
        });
    }

    /// Where its output goes.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("dev.log")
    }

    /// SIGKILL, then what its tasks left: their processes and cgroups.
    pub fn stop(mut self) {
        self.proc.kill9();
        clean_cgroup_root(&self.cgroup_root);
    }
}

/// Kills what still runs under the cgroup root `root` and removes its
/// directories in every hierarchy.
pub fn clean_cgroup_root(root: &str) {
    kill_cgroup_tree(root);
    remove_cgroup_root(root);
}

/// Removes what `kill_cgroup_tree` leaves of the cgroup root `root`: its
/// directories in the other v1 hierarchies (cpuacct, freezer, and the
/// devices/blkio/cpuset ones libcontainer made), deepest first.
pub fn remove_cgroup_root(root: &str) {
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let mut dirs = vec![h.path().join(root)];
        let mut i = 0;
        while i < dirs.len() {
            let subs = std::fs::read_dir(&dirs[i]).into_iter().flatten().flatten();
            dirs.extend(subs.filter(|e| e.path().is_dir()).map(|e| e.path()));
            i += 1;
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}
