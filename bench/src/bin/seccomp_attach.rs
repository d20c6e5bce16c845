//! The seccomp step of a container's init, two ways, in one run: the way
//! libcontainer does it (`libcontainer::seccomp::initialize_seccomp` of the
//! default profile: libseccomp builds the filter, then loads it) against
//! Paddock's (`seccomp_filter::install` of the program compiled once, before
//! the forks, as the launcher does). Each sample is a fresh forked child
//! that sets no-new-privileges and takes the filter one way; the two ways
//! alternate. Prints the median CPU time of each and their ratio.
//!
//! cargo build --release -p paddock-bench
//! target/release/seccomp_attach --rounds 300

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use paddock_bench::arg;
use paddock_isolation::oci::{seccomp, seccomp_filter};

#[derive(Clone, Copy)]
enum Way {
    Libcontainer,
    Precompiled,
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the seccomp step in a fresh child, or `None` when it failed.
fn sample(way: Way, program: &'static [libc::sock_filter]) -> Option<Duration> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both fds are new and ours.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child takes the filter, writes 8 bytes and exits.
    match unsafe { nix::unistd::fork() }.ok()? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: prctl on ourselves.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let t0 = thread_cpu();
            let ok = match way {
                Way::Libcontainer => {
                    libcontainer::seccomp::initialize_seccomp(&seccomp::default_profile()).is_ok()
                }
                Way::Precompiled => seccomp_filter::install(program).is_ok(),
            };
            let ns = if ok {
                (thread_cpu() - t0).as_nanos() as u64
            } else {
                u64::MAX
            };
            let b = ns.to_le_bytes();
            // SAFETY: writing our 8 bytes to the pipe, then leaving.
            unsafe {
                libc::write(w.as_raw_fd(), b.as_ptr().cast(), b.len());
                libc::_exit(0)
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut f = std::fs::File::from(r);
            let mut b = [0u8; 8];
            let got = f.read_exact(&mut b);
            let _ = nix::sys::wait::waitpid(child, None);
            got.ok()?;
            let ns = u64::from_le_bytes(b);
            (ns != u64::MAX).then(|| Duration::from_nanos(ns))
        }
    }
}

fn main() {
    let rounds = arg("--rounds", 300).clamp(1, 5000);
    let program = seccomp_filter::default_program().expect("compile the default profile");
    println!("default profile: {} BPF instructions", program.len());
    let (mut lib, mut pre) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        lib.extend(sample(Way::Libcontainer, program));
        pre.extend(sample(Way::Precompiled, program));
    }
    let us = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
        v.get(i).map(|d| d.as_secs_f64() * 1e6).unwrap_or(f64::NAN)
    };
    let (l50, p50) = (us(&mut lib, 0.5), us(&mut pre, 0.5));
    println!(
        "libcontainer (build + load): n={} p50={l50:.0}us p90={:.0}us",
        lib.len(),
        us(&mut lib, 0.9)
    );
    println!(
        "precompiled (attach only):   n={} p50={p50:.0}us p90={:.0}us",
        pre.len(),
        us(&mut pre, 0.9)
    );
    println!("precompiled / libcontainer (p50): {:.3}x", p50 / l50);
}
