//! Test helper for `launcher`: `isolation-launcher-test executor-launcher`
//! serves launches; each forked child prints what it became (its parent,
//! session, directory, one variable, its cmdline and cgroups) and exits 7.

fn report() -> i32 {
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    println!("ppid {}", nix::unistd::getppid());
    println!(
        "sid {}",
        nix::unistd::getsid(None).map(|p| p.as_raw()).unwrap_or(-1)
    );
    println!("pid {}", std::process::id());
    println!(
        "cwd {}",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    );
    println!("greeting {}", std::env::var("GREETING").unwrap_or_default());
    println!(
        "launcher-fd {}",
        std::env::var("PADDOCK_LAUNCHER_FD").is_ok()
    );
    println!("argv {}", args.join(" "));
    print!(
        "{}",
        std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
    );
    eprintln!("to stderr");
    7
}

fn main() {
    let is_launcher = std::env::args().nth(1).as_deref() == Some(paddock_isolation::launcher::ARG);
    if !is_launcher {
        eprintln!(
            "usage: isolation-launcher-test {}",
            paddock_isolation::launcher::ARG
        );
        std::process::exit(2);
    }
    std::process::exit(paddock_isolation::launcher::serve(report));
}
