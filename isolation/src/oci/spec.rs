//! The OCI runtime spec (`config.json`) of an image container: namespaces,
//! mounts, capabilities, seccomp, the process. Pure: it only builds values.

use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount, Spec, User,
};
use serde::{Deserialize, Serialize};

use super::user::Ids;
use super::{caps, seccomp_filter};

/// A host directory bind-mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    pub readonly: bool,
}

/// What the executor decides about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub rootfs: PathBuf,
    pub argv: Vec<String>,
    /// `(name, value)`.
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub ids: Ids,
    /// In a new UTS namespace.
    pub hostname: String,
    pub binds: Vec<Bind>,
    /// The container's cgroup, relative to each hierarchy's root (the
    /// task's cgroup, which the executor already runs in).
    pub cgroups_path: PathBuf,
    /// A network namespace of the container's own, with loopback only.
    /// Host networking otherwise.
    pub private_network: bool,
    /// On a v1 host, the read-only binds of the container's own cgroups
    /// that make up its `/sys/fs/cgroup` (see `cgroup_view`). `None`: the
    /// namespaced cgroup mount of the default mounts (v2).
    pub cgroup_view: Option<Vec<Bind>>,
}

/// The namespaces every container gets. The network namespace is created
/// by init before the container (libcontainer does not bring up
/// loopback), so it is never in the spec.
const NAMESPACES: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Cgroup,
];

fn bind_mount(b: &Bind) -> Mount {
    let mut m = Mount::default();
    let mut options = vec!["rbind".to_string(), "nosuid".into(), "nodev".into()];
    options.push(if b.readonly { "ro" } else { "rw" }.into());
    m.set_destination(PathBuf::from(&b.destination))
        .set_typ(Some("bind".into()))
        .set_source(Some(b.source.clone()))
        .set_options(Some(options));
    m
}

/// The tmpfs at /sys/fs/cgroup that holds a v1 container's cgroup binds.
fn cgroup_tmpfs() -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(super::cgroup_view::CGROUP_ROOT))
        .set_typ(Some("tmpfs".into()))
        .set_source(Some("tmpfs".into()))
        .set_options(Some(
            ["nosuid", "nodev", "noexec", "mode=755", "size=64k"]
                .map(String::from)
                .to_vec(),
        ));
    m
}

/// Checks what would make a broken spec, naming the field.
fn validate(cfg: &ContainerConfig) -> Result<(), String> {
    if cfg.argv.is_empty() || cfg.argv[0].is_empty() {
        return Err("the container has nothing to run (empty argv)".into());
    }
    if !cfg.cwd.starts_with('/') {
        return Err(format!(
            "working directory {:?} is not an absolute path",
            cfg.cwd
        ));
    }
    for (k, _) in &cfg.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(format!("invalid environment variable name {k:?}"));
        }
    }
    for b in &cfg.binds {
        if !b.destination.starts_with('/') || b.destination.split('/').any(|c| c == "..") {
            return Err(format!(
                "bind mount destination {:?} must be absolute, without '..'",
                b.destination
            ));
        }
    }
    Ok(())
}

/// The spec for `cfg`.
pub fn build(cfg: &ContainerConfig) -> Result<Spec, String> {
    validate(cfg)?;
    let mut spec = Spec::default();
    let mut root = oci_spec::runtime::Root::default();
    root.set_path(cfg.rootfs.clone()).set_readonly(Some(false));
    spec.set_root(Some(root));
    spec.set_hostname(Some(cfg.hostname.clone()));
    // The default seccomp profile: attached by init from the program
    // compiled once (`seccomp_filter`), not built by libcontainer.
    spec.set_annotations(Some(
        [(
            seccomp_filter::ANNOTATION.to_string(),
            seccomp_filter::DEFAULT.to_string(),
        )]
        .into(),
    ));

    let mut process = spec.process().clone().unwrap_or_default();
    let mut user = User::default();
    user.set_uid(cfg.ids.uid)
        .set_gid(cfg.ids.gid)
        .set_additional_gids(
            (!cfg.ids.additional_gids.is_empty()).then(|| cfg.ids.additional_gids.clone()),
        );
    let mut env: Vec<String> = cfg.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !cfg.env.iter().any(|(k, _)| k == "HOME") {
        env.push(format!(
            "HOME={}",
            cfg.ids.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    let mut capabilities = caps::default_capabilities();
    if cfg.ids.uid != 0 {
        // As Docker: a non-root user keeps the bounding set only.
        capabilities
            .set_effective(Some(Default::default()))
            .set_permitted(Some(Default::default()));
    }
    process
        .set_args(Some(cfg.argv.clone()))
        .set_env(Some(env))
        .set_cwd(PathBuf::from(&cfg.cwd))
        .set_user(user)
        .set_terminal(Some(false))
        .set_no_new_privileges(Some(true))
        .set_capabilities(Some(capabilities))
        // Limits are inherited from the agent, as for command tasks.
        .set_rlimits(None);
    spec.set_process(Some(process));

    let mut mounts = oci_spec::runtime::get_default_mounts();
    if let Some(view) = &cfg.cgroup_view {
        mounts.retain(|m| m.typ().as_deref() != Some("cgroup"));
        mounts.push(cgroup_tmpfs());
        mounts.extend(view.iter().map(bind_mount));
    }
    mounts.extend(cfg.binds.iter().map(bind_mount));
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    let namespaces = NAMESPACES
        .iter()
        .map(|t| {
            let mut n = LinuxNamespace::default();
            n.set_typ(*t);
            n
        })
        .collect();
    // Every device but libcontainer's defaults (null, zero, tty, …) is
    // refused: by the devices controller on v1, by an eBPF program on the
    // cgroup on v2 (libcontainer's `cgroupsv2_devices` feature).
    let mut deny_all = LinuxDeviceCgroup::default();
    deny_all.set_allow(false).set_access(Some("rwm".into()));
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(vec![deny_all]));
    linux
        .set_namespaces(Some(namespaces))
        .set_cgroups_path(Some(cfg.cgroups_path.clone()))
        .set_resources(Some(resources))
        .set_seccomp(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ContainerConfig {
        ContainerConfig {
            rootfs: "/r".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec![("PATH".into(), "/bin".into())],
            cwd: "/mnt/mesos/sandbox".into(),
            ids: Ids {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: Some("/root".into()),
            },
            hostname: "h".into(),
            binds: vec![Bind {
                source: "/sb".into(),
                destination: "/mnt/mesos/sandbox".into(),
                readonly: false,
            }],
            cgroups_path: "/paddock/c1".into(),
            private_network: false,
            cgroup_view: None,
        }
    }

    #[test]
    fn the_spec_isolates_and_binds_the_sandbox() {
        let spec = build(&cfg()).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        for t in ["pid", "mount", "uts", "ipc"] {
            assert!(ns.contains(&t), "{t} missing in {ns:?}");
        }
        assert!(!ns.contains(&"network"), "host networking by default");
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["process"]["env"][1], "HOME=/root");
        assert_eq!(v["linux"]["cgroupsPath"], "/paddock/c1");
        assert!(
            v["linux"]["seccomp"].is_null(),
            "libcontainer must not build it"
        );
        assert_eq!(v["annotations"]["io.paddock.seccomp"], "default");
        let sandbox = mount_at(&v, "/mnt/mesos/sandbox");
        assert_eq!(sandbox["source"], "/sb");
        assert!(v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/sys"
                && m["options"].as_array().unwrap().iter().any(|o| o == "ro")));
    }

    #[test]
    fn a_non_root_user_has_no_effective_capabilities() {
        let mut c = cfg();
        c.ids.uid = 1000;
        let v = serde_json::to_value(build(&c).unwrap()).unwrap();
        assert_eq!(v["process"]["user"]["uid"], 1000);
        assert_eq!(
            v["process"]["capabilities"]["effective"],
            serde_json::json!([])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .map(|a| a.len()),
            Some(caps::DEFAULT.len())
        );
    }

    #[test]
    fn bad_configs_are_refused_by_field() {
        let mut c = cfg();
        c.cwd = "rel".into();
        assert!(build(&c).unwrap_err().contains("working directory"));
        let mut c = cfg();
        c.binds[0].destination = "/a/../../etc".into();
        assert!(build(&c).unwrap_err().contains("destination"));
        let mut c = cfg();
        c.argv.clear();
        assert!(build(&c).unwrap_err().contains("argv"));
    }

    /// The mount at `dest` in spec `v` (JSON null if none).
    fn mount_at(v: &serde_json::Value, dest: &str) -> serde_json::Value {
        v["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["destination"] == dest)
            .cloned()
            .unwrap_or_default()
    }

    fn mounts_at(v: &serde_json::Value, prefix: &str) -> Vec<(String, String)> {
        v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"].as_str().unwrap().starts_with(prefix))
            .map(|m| {
                let d = m["destination"].as_str().unwrap().to_string();
                (d, m["type"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }

    #[test]
    fn v2_keeps_the_namespaced_cgroup_mount() {
        let v = serde_json::to_value(build(&cfg()).unwrap()).unwrap();
        assert_eq!(
            mounts_at(&v, "/sys/fs/cgroup"),
            [("/sys/fs/cgroup".to_string(), "cgroup".to_string())]
        );
    }

    #[test]
    fn a_v1_view_replaces_it_with_a_tmpfs_and_read_only_binds() {
        let mut c = cfg();
        c.cgroup_view = Some(super::super::cgroup_view::v1_binds(
            "3:memory:/paddock/c1\n2:devices:/paddock/c1\n",
            std::path::Path::new("/paddock/c1"),
            std::path::Path::new("/sys/fs/cgroup"),
        ));
        let v = serde_json::to_value(build(&c).unwrap()).unwrap();
        assert_eq!(
            mounts_at(&v, "/sys/fs/cgroup"),
            [
                ("/sys/fs/cgroup".to_string(), "tmpfs".to_string()),
                ("/sys/fs/cgroup/memory".to_string(), "bind".to_string())
            ]
        );
        let mem = mount_at(&v, "/sys/fs/cgroup/memory");
        assert_eq!(mem["source"], "/sys/fs/cgroup/memory/paddock/c1");
        assert!(mem["options"].as_array().unwrap().iter().any(|o| o == "ro"));
        // The view comes before the task's own binds.
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        let at = |d: &str| dests.iter().position(|x| *x == d).unwrap();
        assert!(at("/sys/fs/cgroup/memory") < at("/mnt/mesos/sandbox"));
    }
}
