//! Running one CNI plugin binary, as the CNI spec's exec protocol says:
//! the command and the container in `CNI_*` variables, the configuration
//! on stdin, the result (or an error object) on stdout.
//!
//! stdin, stdout and stderr are memory files, not pipes, and the wait is a
//! poll with a deadline: the executor calls this where it may not start
//! threads (after its PID namespace is unshared), so nothing here needs
//! one, and a plugin that hangs is killed after [`TIMEOUT`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::result;

/// How long one plugin may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// `ADD` or `DEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Add,
    Del,
}

impl Cmd {
    fn as_str(self) -> &'static str {
        match self {
            Cmd::Add => "ADD",
            Cmd::Del => "DEL",
        }
    }
}

/// One plugin call.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub cmd: Cmd,
    pub container_id: &'a str,
    /// `CNI_NETNS`; empty on a DEL whose namespace is already gone.
    pub netns: Option<&'a Path>,
    pub ifname: &'a str,
    /// `CNI_PATH`: directories, `:`-separated.
    pub plugins_path: &'a str,
    pub plugin_type: &'a str,
    pub stdin: &'a Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("CNI plugin {plugin:?} is not in {path} (--network-cni-plugins-dir)")]
    NotFound { plugin: String, path: String },
    #[error("cannot run CNI plugin {plugin}: {why}")]
    Spawn { plugin: String, why: String },
    #[error("CNI plugin {plugin} {cmd} failed (exit status {code}): {message}")]
    Failed {
        plugin: String,
        cmd: &'static str,
        code: i32,
        message: String,
    },
    #[error("CNI plugin {plugin} {cmd} did not finish within {TIMEOUT:?}")]
    Timeout { plugin: String, cmd: &'static str },
    #[error("CNI plugin {plugin} {cmd}: {0}", plugin = .1, cmd = .2)]
    Result(result::ResultError, String, &'static str),
}

/// The plugin binary: the first `dir/type` that exists.
pub fn find_plugin(plugins_path: &str, plugin_type: &str) -> Option<PathBuf> {
    if !super::config::valid_plugin_type(plugin_type) {
        return None;
    }
    plugins_path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(plugin_type))
        .find(|p| p.is_file())
}

fn memfd(name: &std::ffi::CStr) -> std::io::Result<File> {
    // SAFETY: memfd_create with a valid C string; the fd is ours.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn read_capped(f: &mut File, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.take(cap as u64 + 1).read_to_end(&mut out);
    }
    out
}

/// Runs the plugin; its parsed result (empty for a DEL that printed nothing).
pub fn run(call: &Call<'_>) -> Result<Value, ExecError> {
    let plugin = call.plugin_type.to_string();
    let binary =
        find_plugin(call.plugins_path, call.plugin_type).ok_or_else(|| ExecError::NotFound {
            plugin: plugin.clone(),
            path: call.plugins_path.to_string(),
        })?;
    let spawn_err = |e: std::io::Error| ExecError::Spawn {
        plugin: plugin.clone(),
        why: e.to_string(),
    };
    let mut stdin = memfd(c"cni-stdin").map_err(spawn_err)?;
    stdin
        .write_all(call.stdin.to_string().as_bytes())
        .and_then(|_| stdin.seek(SeekFrom::Start(0)).map(|_| ()))
        .map_err(spawn_err)?;
    let mut stdout = memfd(c"cni-stdout").map_err(spawn_err)?;
    let mut stderr = memfd(c"cni-stderr").map_err(spawn_err)?;
    let mut cmd = Command::new(&binary);
    cmd.env_clear()
        .env("CNI_COMMAND", call.cmd.as_str())
        .env("CNI_CONTAINERID", call.container_id)
        .env(
            "CNI_NETNS",
            call.netns.map(|p| p.as_os_str()).unwrap_or_default(),
        )
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_PATH", call.plugins_path)
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| {
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
            }),
        )
        .stdin(Stdio::from(stdin.try_clone().map_err(spawn_err)?))
        .stdout(Stdio::from(stdout.try_clone().map_err(spawn_err)?))
        .stderr(Stdio::from(stderr.try_clone().map_err(spawn_err)?));
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::Timeout {
                    plugin,
                    cmd: call.cmd.as_str(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(spawn_err(e)),
        }
    };
    drop(stdin);
    let out = read_capped(&mut stdout, result::MAX_OUTPUT_BYTES);
    if !status.success() {
        let mut message = result::error_message(&out);
        if message.is_empty() {
            let err = read_capped(&mut stderr, 4096);
            message = String::from_utf8_lossy(&err[..err.len().min(4096)])
                .trim()
                .to_string();
        }
        return Err(ExecError::Failed {
            plugin,
            cmd: call.cmd.as_str(),
            code: status.code().unwrap_or(-1),
            message,
        });
    }
    result::parse(&out).map_err(|e| ExecError::Result(e, plugin, call.cmd.as_str()))
}
