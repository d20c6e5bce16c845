//! OCI containers for image tasks: the runtime spec every container gets
//! (`spec`: pid, mount, uts, ipc and cgroup namespaces, host networking
//! unless a private network namespace is asked for, the default mounts, the
//! sandbox bind, no-new-privileges), Docker's default capability set
//! (`caps`), a default seccomp profile (`seccomp`) compiled once into BPF
//! (`seccomp_filter`), the image's user
//! resolved inside its rootfs (`user`), and `run`, with which `paddock
//! init` has libcontainer (youki) run the container and supervises it.

pub mod caps;
pub mod cgroup_view;
pub mod run;
pub mod seccomp;
pub mod seccomp_filter;
pub mod spec;
pub mod user;

pub mod trace;

pub use run::Launch;
pub use spec::{Bind, ContainerConfig};
pub use user::Ids;

/// Writes `config.json` for `cfg` into `bundle` (created if missing).
pub fn write_bundle(bundle: &std::path::Path, cfg: &ContainerConfig) -> Result<(), String> {
    let spec = spec::build(cfg)?;
    std::fs::create_dir_all(bundle)
        .map_err(|e| format!("cannot create bundle {}: {e}", bundle.display()))?;
    spec.save(bundle.join("config.json"))
        .map_err(|e| format!("cannot write {}/config.json: {e}", bundle.display()))
}
