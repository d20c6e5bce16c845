//! The default seccomp profile as a BPF program compiled once, and its
//! installation just before a container's `exec`.
//!
//! Why not leave it to libcontainer: libcontainer builds the filter with
//! libseccomp in every container's init (resolving each name, generating
//! the program), which was ~9% of init's CPU in a burst of launches, and
//! it asks for no optimization, so the kernel got a linear program: slower
//! to attach (the kernel evaluates it for every system call to fill its
//! allow cache) and slower for every system call the task makes. Here
//! libseccomp compiles [`super::seccomp::default_profile`] once, as a
//! binary tree, in the launcher the executors are forked from; every
//! container's init inherits the program and only attaches it.
//!
//! The bundle then carries no `linux.seccomp` but the annotation
//! [`ANNOTATION`], and [`Exec`] (libcontainer's executor hook) attaches the
//! program as the last step before the `exec`, after no-new-privileges is
//! set and the capabilities are dropped, as libcontainer would.

use std::io::{Read, Seek};
use std::sync::OnceLock;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Spec};

/// The bundle annotation that asks init for the default filter.
pub const ANNOTATION: &str = "io.paddock.seccomp";
/// Its one value.
pub const DEFAULT: &str = "default";

static COMPILED: OnceLock<Result<Vec<libc::sock_filter>, String>> = OnceLock::new();

/// The default profile's program, compiled on the first call in this
/// process (or inherited from the process this one was forked from).
pub fn default_program() -> Result<&'static [libc::sock_filter], String> {
    COMPILED
        .get_or_init(|| compile(&super::seccomp::default_profile()))
        .as_deref()
        .map_err(Clone::clone)
}

/// Compiles the default program now, so that forked children inherit it.
pub fn warm() {
    if let Err(e) = default_program() {
        tracing::warn!("cannot compile the default seccomp profile: {e}");
    }
}

/// Does this bundle's spec ask for the default filter?
pub fn wanted(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .is_some_and(|v| v == DEFAULT)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = i32::try_from(errno.unwrap_or(libc::EPERM as u32))
        .map_err(|_| "errnoRet is out of range".to_string())?;
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        other => return Err(format!("the seccomp action {other:?} is not supported")),
    })
}

fn arch(a: Arch) -> Result<ScmpArch, String> {
    Ok(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        other => {
            return Err(format!(
                "the seccomp architecture {other:?} is not supported"
            ))
        }
    })
}

/// One argument comparison. For the masked form the OCI runtime spec (as
/// runc reads it) puts the mask in `value` and the datum in `valueTwo`.
fn compare(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    two: Option<u64>,
) -> Result<ScmpArgCompare, String> {
    let index = u32::try_from(index).map_err(|_| "argument index out of range".to_string())?;
    let (op, datum) = match op {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(value), two.unwrap_or(0))
        }
    };
    Ok(ScmpArgCompare::new(index, op, datum))
}

/// Compiles `profile` into a BPF program (libseccomp, binary-tree
/// optimized). Names this libseccomp does not know are skipped, as
/// libcontainer does; flags, notify actions and two comparisons of one
/// argument are refused.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, String> {
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err("seccomp flags are not supported".into());
    }
    let err = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp: {what}: {e}");
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("new filter", e))?;
    for a in profile.architectures().iter().flatten() {
        ctx.add_arch(arch(*a)?)
            .map_err(|e| err("add an architecture", e))?;
    }
    // init sets no-new-privileges itself; loading must not.
    ctx.set_ctl_nnp(false)
        .map_err(|e| err("no-new-privileges", e))?;
    ctx.set_ctl_optimize(2).map_err(|e| err("optimize", e))?;
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let mut cmps = Vec::new();
        let mut seen = Vec::new();
        for a in rule.args().iter().flatten() {
            if seen.contains(&a.index()) {
                return Err("two comparisons of one argument in a rule are not supported".into());
            }
            seen.push(a.index());
            cmps.push(compare(a.index(), a.op(), a.value(), a.value_two())?);
        }
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!(name, "seccomp: unknown system call skipped");
                continue;
            };
            ctx.add_rule_conditional(act, sc, &cmps)
                .map_err(|e| err(&format!("rule for {name}"), e))?;
        }
    }
    export(&ctx)
}

/// The program, through a memfd (libseccomp 2.5 exports to an fd only).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, String> {
    // SAFETY: a plain memfd_create with a NUL-terminated name.
    let raw = unsafe { libc::memfd_create(c"paddock-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(format!(
            "seccomp: memfd: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `raw` is a new fd that nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    ctx.export_bpf(&fd)
        .map_err(|e| format!("seccomp: export: {e}"))?;
    let mut f = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut bytes))
        .map_err(|e| format!("seccomp: read the program: {e}"))?;
    let insns: Vec<libc::sock_filter> = bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if insns.is_empty() || bytes.len() % 8 != 0 || insns.len() > usize::from(u16::MAX) {
        return Err(format!(
            "seccomp: libseccomp exported {} bytes",
            bytes.len()
        ));
    }
    Ok(insns)
}

/// Attaches `program` to the calling thread (needs no-new-privileges or
/// CAP_SYS_ADMIN).
pub fn install(program: &[libc::sock_filter]) -> Result<(), String> {
    let len =
        u16::try_from(program.len()).map_err(|_| "the seccomp program is too long".to_string())?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the
    // kernel copies the instructions.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot attach the seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// libcontainer's executor with the default filter attached first.
#[derive(Clone)]
pub struct Exec {
    program: Option<&'static [libc::sock_filter]>,
}

impl Exec {
    /// Attaches `program` (if any) before the `exec`.
    pub fn new(program: Option<&'static [libc::sock_filter]>) -> Exec {
        Exec { program }
    }
}

impl Executor for Exec {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(p) = self.program {
            install(p).map_err(ExecutorError::Other)?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_compiles_to_a_program() {
        let p = default_program().unwrap();
        assert!(p.len() > 10, "{} instructions", p.len());
        // The first instruction loads the architecture (seccomp_data.arch at offset 4).
        assert_eq!(p[0].k, 4, "{:?}", (p[0].code, p[0].k));
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// In a forked child: no-new-privileges, the program, then the calls.
    #[test]
    fn the_program_denies_what_the_profile_denies() {
        let p = default_program().unwrap();
        // SAFETY: the child makes only raw system calls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = (|| {
                    // SAFETY: raw system calls on no memory of ours.
                    unsafe {
                        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                            return 10;
                        }
                        if install(p).is_err() {
                            return 11;
                        }
                        if libc::unshare(libc::CLONE_NEWUSER) != -1 || errno() != libc::EPERM {
                            return 12;
                        }
                        if libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) != -1
                            || errno() != libc::EPERM
                        {
                            return 13;
                        }
                        if libc::syscall(libc::SYS_clone3, 0, 0) != -1 || errno() != libc::ENOSYS {
                            return 14;
                        }
                        // A call the profile allows still works.
                        if libc::getppid() <= 0 {
                            return 15;
                        }
                    }
                    0
                })();
                // SAFETY: leaving the forked child without running the harness.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn unsupported_profiles_are_refused_with_a_reason() {
        let mut p = super::super::seccomp::default_profile();
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        let e = compile(&p).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let mut p = super::super::seccomp::default_profile();
        p.set_flags(Some(vec![
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        ]));
        assert!(compile(&p).unwrap_err().contains("flags"));
        let mut p = super::super::seccomp::default_profile();
        p.set_architectures(Some(vec![Arch::ScmpArchPpc64]));
        assert!(compile(&p).unwrap_err().contains("ScmpArchPpc64"));
    }

    #[test]
    fn only_the_annotation_asks_for_the_filter() {
        let mut spec = Spec::default();
        assert!(!wanted(&spec));
        spec.set_annotations(Some([(ANNOTATION.to_string(), DEFAULT.to_string())].into()));
        assert!(wanted(&spec));
        spec.set_annotations(Some([(ANNOTATION.to_string(), "other".to_string())].into()));
        assert!(!wanted(&spec));
    }
}
