//! Test helper for `init::run`: `isolation-init-test ARGV…` unshares a PID
//! namespace, starts itself again as that namespace's PID 1 running
//! `init::run(ARGV)`, prints `init-host-pid <pid>` on stderr (so a test can
//! signal the init from outside) and exits with the init's exit code.

use std::process::{exit, Command};

const AS_INIT: &str = "--as-init";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((first, argv)) = args.split_first() {
        if first == AS_INIT {
            exit(paddock_isolation::init::run(argv));
        }
    }
    if let Err(e) = paddock_isolation::ns::unshare_pid() {
        eprintln!("isolation-init-test: {e}");
        exit(125);
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("isolation-init-test: current_exe: {e}");
            exit(125);
        }
    };
    let mut child = match Command::new(exe).arg(AS_INIT).args(&args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("isolation-init-test: spawn init: {e}");
            exit(125);
        }
    };
    eprintln!("init-host-pid {}", child.id());
    match child.wait() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            exit(
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            )
        }
        Err(e) => {
            eprintln!("isolation-init-test: wait: {e}");
            exit(125);
        }
    }
}
