//! Container networks for MESOS containers through CNI, as Mesos's
//! `network/cni` isolator.
//!
//! - `--network-cni-config-dir`: every `*.conf` / `*.conflist` in it
//!   defines a network by its `name` (`config`); read at each launch, so a
//!   new file needs no restart.
//! - `--network-cni-plugins-dir`: where the plugin binaries are (`CNI_PATH`,
//!   `:`-separated directories allowed).
//!
//! A MESOS container (with an image, or a command task without one:
//! `executor/networked.rs`) whose `network_infos` name networks gets a
//! network namespace of its own (`netns`, loopback up), and each named
//! network's plugins run there with `ADD` (`exec`; interfaces `eth0`,
//! `eth1`, … in the order of `network_infos`; a conflist is a chain, each
//! plugin getting the previous one's result). The container runs in that
//! namespace, and its addresses (`result`) go in
//! `TaskStatus.container_status.network_infos[].ip_addresses`. When the
//! container ends — or the launch fails half-way — `DEL` runs for every
//! plugin in reverse order, then the namespace is removed.
//!
//! What was attached is checkpointed first, at
//! `<work_dir>/networks/<container>/network.json`, with the exact
//! configuration used; the agent ([`supervise`]) runs `DEL` from that
//! record for a container whose executor died without doing it.
//!
//! The agent publishes its two directories at `<work_dir>/networks/cni.json`
//! ([`publish`], before it serves) for the executors it starts, which run
//! the plugins.

pub mod config;
pub mod exec;
pub mod files;
pub mod netns;
pub mod result;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use paddock_proto::container::{ContainerInfo, IpAddress, NetworkInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use config::{NetworkConfig, PortMap};

/// The agent's CNI flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniDirs {
    /// `--network-cni-config-dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<PathBuf>,
    /// `--network-cni-plugins-dir` (`:`-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins_dir: Option<String>,
}

/// `<work_dir>/networks`.
pub fn root(work_dir: &Path) -> PathBuf {
    work_dir.join("networks")
}

fn published(work_dir: &Path) -> PathBuf {
    root(work_dir).join("cni.json")
}

/// Writes the agent's CNI directories where its executors read them.
pub fn publish(work_dir: &Path, dirs: &CniDirs) -> std::io::Result<()> {
    let root = root(work_dir);
    std::fs::create_dir_all(&root)?;
    let tmp = root.join(".cni.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(dirs).unwrap_or_default())?;
    std::fs::rename(tmp, published(work_dir))
}

/// The directories the agent published (none configured when absent).
pub fn published_dirs(work_dir: &Path) -> Result<CniDirs, String> {
    let path = published(work_dir);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CniDirs::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The names of the CNI networks a container asks for, in order. A
/// NetworkInfo without a name is not a CNI network (see `oci/mod.rs`).
pub fn requested(info: &ContainerInfo) -> Vec<&str> {
    info.network_infos
        .iter()
        .filter_map(|n| n.name.as_deref())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Reads every network of the config dir (bad files are logged and skipped).
pub fn load(config_dir: &Path) -> Result<BTreeMap<String, NetworkConfig>, String> {
    let entries = std::fs::read_dir(config_dir).map_err(|e| {
        format!(
            "cannot read the CNI config dir {} (--network-cni-config-dir): {e}",
            config_dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if config::kind_of(&name).is_none() {
            continue;
        }
        let path = entry.path();
        let too_big = std::fs::metadata(&path)
            .map(|m| m.len() > config::MAX_CONFIG_BYTES as u64)
            .unwrap_or(true);
        if too_big {
            tracing::warn!(
                "skipping CNI config {}: unreadable or too large",
                path.display()
            );
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((name, text)),
            Err(e) => tracing::warn!("skipping CNI config {}: {e}", path.display()),
        }
    }
    let (nets, problems) = config::networks(files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    for p in problems {
        tracing::warn!("skipping CNI config in {}: {p}", config_dir.display());
    }
    Ok(nets)
}

/// The networks `names` resolve to; the error names the first unknown
/// one and the config dir (REASON_CONTAINER_PREPARATION_FAILED).
pub fn resolve(dirs: &CniDirs, names: &[&str]) -> Result<Vec<NetworkConfig>, String> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let Some(dir) = &dirs.config_dir else {
        return Err(format!(
            "Unknown CNI network '{}': this agent has no CNI networks \
             (start it with --network-cni-config-dir)",
            names[0]
        ));
    };
    let nets = load(dir)?;
    names
        .iter()
        .map(|n| {
            nets.get(*n).cloned().ok_or_else(|| {
                format!(
                    "Unknown CNI network '{n}': no *.conf or *.conflist in {} \
                     (--network-cni-config-dir) has that name",
                    dir.display()
                )
            })
        })
        .collect()
}

/// One network a container joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub ifname: String,
    pub network: NetworkConfig,
    /// The host ports mapped on it; DEL gets them too, as ADD did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMap>,
    /// The last plugin's ADD result, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// What is checkpointed for a container's networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// The executor that attached them, and its start time (clock ticks),
    /// so the agent can tell whether it is still alive.
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    pub netns: PathBuf,
    pub plugins_path: String,
    pub attachments: Vec<Attachment>,
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("network.json")
}

fn save(dir: &Path, record: &Record) -> Result<(), String> {
    let tmp = dir.join(".network.json.tmp");
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
    (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, record_path(dir))
    })()
    .map_err(|e| format!("cannot checkpoint {}: {e}", record_path(dir).display()))
}

/// A process's start time from `/proc/<pid>/stat`.
pub fn process_start(pid: u32) -> Option<u64> {
    procfs::process::Process::new(pid as i32)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.starttime)
}

/// The network side of a running container.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The namespace to run the container in.
    pub netns: PathBuf,
    /// For `TaskStatus.container_status.network_infos`.
    pub network_infos: Vec<NetworkInfo>,
}

/// The host ports the container asks to map on `net` (Mesos's
/// `NetworkInfo.port_mappings`).
fn port_maps(info: &ContainerInfo, net: &str) -> Vec<PortMap> {
    info.network_infos
        .iter()
        .filter(|n| n.name.as_deref() == Some(net))
        .flat_map(|n| n.port_mappings.iter())
        .map(|p| PortMap {
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p
                .protocol
                .clone()
                .unwrap_or_else(|| "tcp".into())
                .to_ascii_lowercase(),
        })
        .collect()
}

/// Runs the chain of `att` with ADD, updating its result.
fn add_one(record: &Record, att: &mut Attachment) -> Result<(), String> {
    let mut prev: Option<Value> = None;
    for (i, p) in att.network.plugins.iter().enumerate() {
        let stdin = config::plugin_stdin(&att.network, i, prev.as_ref(), &att.ports)
            .ok_or("the network has no such plugin")?;
        let out = exec::run(&exec::Call {
            cmd: exec::Cmd::Add,
            container_id: &record.container_id,
            netns: Some(&record.netns),
            ifname: &att.ifname,
            plugins_path: &record.plugins_path,
            plugin_type: p.get("type").and_then(Value::as_str).unwrap_or_default(),
            stdin: &stdin,
        })
        .map_err(|e| format!("network '{}': {e}", att.network.name))?;
        prev = Some(out);
    }
    att.result = prev;
    Ok(())
}

/// The name-service files of a container on CNI networks, and where they
/// go inside it: [`attach`] writes them next to the record.
pub const NAME_FILES: [(&str, &str); 2] =
    [("resolv.conf", "/etc/resolv.conf"), ("hosts", "/etc/hosts")];

/// `<work_dir>/networks/<container>`: the record, the namespace, the files.
pub fn container_dir(work_dir: &Path, container_id: &str) -> PathBuf {
    root(work_dir).join(container_id)
}

/// Writes `resolv.conf` (the first result's DNS, else the host's) and
/// `hosts` (the container's hostname on its first address).
fn write_name_files(dir: &Path, record: &Record, hostname: &str) -> Result<(), String> {
    let results = || record.attachments.iter().filter_map(|a| a.result.as_ref());
    let resolv = match results().find_map(files::dns_of) {
        Some(dns) => Some(files::resolv_conf(&dns)),
        None => std::fs::read_to_string("/etc/resolv.conf").ok(),
    };
    let ip = results().flat_map(result::container_ips).next();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    if let Some(text) = resolv {
        write("resolv.conf", &text)?;
    }
    write("hosts", &files::hosts(hostname, ip))
}

/// Creates the namespace and runs ADD for every network, checkpointing
/// before each step, then writes the container's name-service files; on
/// any failure, undoes what was done ([`detach`]) and returns the error.
/// Blocking: run it off the async runtime, before the executor's PID
/// namespace is unshared (it starts a thread).
pub fn attach(
    work_dir: &Path,
    container_id: &str,
    dirs: &CniDirs,
    networks: Vec<NetworkConfig>,
    info: &ContainerInfo,
    hostname: &str,
) -> Result<Attached, String> {
    let dir = container_dir(work_dir, container_id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let plugins_path = dirs
        .plugins_dir
        .clone()
        .ok_or("this agent has no --network-cni-plugins-dir, so it cannot run CNI plugins")?;
    let mut record = Record {
        container_id: container_id.to_string(),
        pid: std::process::id(),
        start_time: process_start(std::process::id()),
        netns: dir.join("netns"),
        plugins_path,
        attachments: networks
            .into_iter()
            .enumerate()
            .map(|(i, network)| Attachment {
                ifname: config::ifname(i),
                ports: port_maps(info, &network.name),
                network,
                result: None,
            })
            .collect(),
    };
    let done = (|| {
        save(&dir, &record)?;
        netns::create(&record.netns)?;
        for i in 0..record.attachments.len() {
            let mut att = record.attachments[i].clone();
            let added = add_one(&record, &mut att);
            record.attachments[i] = att;
            save(&dir, &record)?;
            added?;
        }
        write_name_files(&dir, &record, hostname)
    })();
    if let Err(e) = done {
        if let Err(d) = detach_dir(&dir) {
            tracing::warn!("cleaning up after a failed CNI ADD: {d}");
        }
        return Err(e);
    }
    let network_infos = record
        .attachments
        .iter()
        .map(|a| NetworkInfo {
            name: Some(a.network.name.clone()),
            ip_addresses: a
                .result
                .as_ref()
                .map(result::container_ips)
                .unwrap_or_default()
                .into_iter()
                .map(|ip| IpAddress {
                    protocol: Some(if ip.is_ipv4() { "IPv4" } else { "IPv6" }.into()),
                    ip_address: Some(ip.to_string()),
                })
                .collect(),
            port_mappings: info
                .network_infos
                .iter()
                .filter(|n| n.name.as_deref() == Some(a.network.name.as_str()))
                .flat_map(|n| n.port_mappings.clone())
                .collect(),
        })
        .collect();
    Ok(Attached {
        netns: record.netns,
        network_infos,
    })
}

/// Runs DEL for everything the record at `dir` says was attached (every
/// plugin, in reverse order, also those whose ADD did not finish, as the
/// spec asks), removes the namespace, then the record. An error leaves the
/// record for the agent to try again.
pub fn detach_dir(dir: &Path) -> Result<(), String> {
    let path = record_path(dir);
    let record: Record = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = netns::remove(&dir.join("netns"));
            let _ = std::fs::remove_dir(dir);
            return Ok(());
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let bound = netns::is_bound(&record.netns);
    let netns = bound.then_some(record.netns.as_path());
    let mut errors = Vec::new();
    for att in record.attachments.iter().rev() {
        for i in (0..att.network.plugins.len()).rev() {
            let Some(stdin) =
                config::plugin_stdin(&att.network, i, att.result.as_ref(), &att.ports)
            else {
                continue;
            };
            let plugin_type = att.network.plugins[i]
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Err(e) = exec::run(&exec::Call {
                cmd: exec::Cmd::Del,
                container_id: &record.container_id,
                netns,
                ifname: &att.ifname,
                plugins_path: &record.plugins_path,
                plugin_type,
                stdin: &stdin,
            }) {
                errors.push(format!("network '{}': {e}", att.network.name));
            }
        }
    }
    if let Err(e) = netns::remove(&record.netns) {
        errors.push(e);
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// [`detach_dir`] for one container; nothing to do when it has no networks.
pub fn detach(work_dir: &Path, container_id: &str) -> Result<(), String> {
    let dir = container_dir(work_dir, container_id);
    if !dir.exists() {
        return Ok(());
    }
    detach_dir(&dir)
}

/// Records whose executor is gone: the pid is dead or is another process.
fn orphaned(work_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root(work_dir)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        if !dir.is_dir() {
            continue;
        }
        let Ok(bytes) = std::fs::read(record_path(&dir)) else {
            continue;
        };
        let Ok(rec) = serde_json::from_slice::<Record>(&bytes) else {
            tracing::warn!("unreadable CNI record {}", record_path(&dir).display());
            continue;
        };
        let alive = match process_start(rec.pid) {
            None => false,
            Some(t) => rec.start_time.is_none_or(|s| s == t),
        };
        if !alive {
            out.push(dir);
        }
    }
    out
}

/// How often the agent looks for networks that no executor will release.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Logs the networks the agent offers, and what is wrong with its flags.
fn report(dirs: &CniDirs) {
    let Some(conf) = &dirs.config_dir else { return };
    match load(conf) {
        Ok(nets) if nets.is_empty() => {
            tracing::warn!(
                "no CNI network in {} (--network-cni-config-dir)",
                conf.display()
            )
        }
        Ok(nets) => {
            let names: Vec<&str> = nets.keys().map(String::as_str).collect();
            tracing::info!("CNI networks from {}: {}", conf.display(), names.join(", "));
            let path = dirs.plugins_dir.as_deref().unwrap_or_default();
            for net in nets.values() {
                for p in &net.plugins {
                    let t = p.get("type").and_then(Value::as_str).unwrap_or_default();
                    if exec::find_plugin(path, t).is_none() {
                        tracing::warn!(
                            "CNI network '{}': plugin {t:?} is not in {path:?} (--network-cni-plugins-dir)",
                            net.name
                        );
                    }
                }
            }
        }
        Err(e) => tracing::warn!("{e}"),
    }
}

/// The longest wait before a DEL that keeps failing is tried again.
const MAX_RETRY: Duration = Duration::from_secs(600);

/// How long to wait before trying again a DEL that failed `failures`
/// times in a row: the sweep's period, doubling, at most [`MAX_RETRY`].
fn retry_after(failures: u32) -> Duration {
    SWEEP_EVERY
        .saturating_mul(1u32 << failures.min(16))
        .min(MAX_RETRY)
}

/// The agent's side (its directories are published by `run` before it
/// serves): every [`SWEEP_EVERY`] runs DEL for containers whose executor
/// died without doing it (SIGKILLed, or the host rebooted), so IPAM
/// leases and port mappings are not leaked. A DEL that fails (a plugin
/// gone from the plugins dir, a broken config) is tried again later and
/// later ([`retry_after`]), and logged each time, until it succeeds.
pub async fn supervise(agent: Arc<crate::Agent>) {
    use std::collections::HashMap;
    use std::time::Instant;
    let work_dir = agent.config.work_dir.clone();
    let dirs = agent.config.cni.clone();
    let _ = tokio::task::spawn_blocking(move || report(&dirs)).await;
    // Records whose DEL failed: how often in a row, and when to try again.
    let mut failing: HashMap<PathBuf, (u32, Instant)> = HashMap::new();
    loop {
        let wd = work_dir.clone();
        let mut state = std::mem::take(&mut failing);
        let swept = tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            let orphans = orphaned(&wd);
            state.retain(|d, _| orphans.contains(d));
            for dir in orphans {
                if state.get(&dir).is_some_and(|(_, next)| *next > now) {
                    continue;
                }
                match detach_dir(&dir) {
                    Ok(()) => {
                        state.remove(&dir);
                        tracing::info!("released the CNI networks of {}", dir.display())
                    }
                    Err(e) => {
                        let failures = state.get(&dir).map_or(1, |(n, _)| n + 1);
                        let wait = retry_after(failures);
                        tracing::warn!(
                            "cannot release the CNI networks of {} ({failures} tries; next in {} s): {e}",
                            dir.display(),
                            wait.as_secs()
                        );
                        state.insert(dir, (failures, now + wait));
                    }
                }
            }
            state
        })
        .await;
        match swept {
            Ok(state) => failing = state,
            Err(e) => tracing::warn!("CNI sweep: {e}"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_del_is_tried_again_later_and_later_up_to_ten_minutes() {
        assert_eq!(retry_after(1), Duration::from_secs(20));
        assert_eq!(retry_after(2), Duration::from_secs(40));
        assert!(retry_after(5) < MAX_RETRY);
        assert_eq!(retry_after(6), MAX_RETRY);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY);
    }
}
