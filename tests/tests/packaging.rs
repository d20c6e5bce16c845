//! Packaging and provisioning (issue 7): the Vagrantfile validates, every
//! script passes shellcheck, the systemd units verify, and the .deb built by
//! `packaging/build-deb.sh` installs on a fresh Debian root through
//! `vagrant/provision/paddock.sh`, runs under a real systemd (a
//! `systemd-nspawn` container booted from that root, sharing the host's
//! network so that everything is on 127.0.0.1), upgrades and purges.
//!
//! The root comes from `debootstrap` once and is cached as a tarball under
//! /var/tmp (`PADDOCK_PACKAGING_CACHE`), so later runs unpack it in seconds.
//! Tools that Debian packages (shellcheck, vagrant, vagrant-libvirt,
//! debootstrap, systemd-container) must be installed: a missing one fails the
//! test with the package to install. Only what cannot exist here is skipped,
//! with the reason printed: not being root, and the Marathon and Chronos
//! steps while `paddock master` has no `--marathon-port`/`--chronos-port`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{free_port, get_json, http, paddock_bin, wait_for};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace directory")
        .to_path_buf()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Panics (never skips) when a tool that Debian packages is missing.
fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is missing: install the Debian package {package} (scripts/apt-packages.txt)"
    );
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// --- shellcheck ------------------------------------------------------------

/// Every shell script of the packaging and provisioning, with its dialect.
fn scripts() -> Vec<(PathBuf, &'static str)> {
    let root = repo();
    let mut out = Vec::new();
    for dir in [
        "vagrant/provision",
        "vagrant/tests",
        "packaging",
        "packaging/tests",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sh") {
                let first = std::fs::read_to_string(&p).unwrap_or_default();
                let shell = if first.starts_with("#!/bin/sh") {
                    "sh"
                } else {
                    "bash"
                };
                out.push((p, shell));
            }
        }
    }
    for script in ["postinst", "prerm", "postrm"] {
        out.push((root.join("packaging/debian").join(script), "sh"));
    }
    out.sort();
    out
}

#[test]
fn every_script_passes_shellcheck() {
    require_tool("shellcheck", "shellcheck");
    let scripts = scripts();
    assert!(
        scripts.len() >= 6,
        "expected the provisioning, build and maintainer scripts, found {scripts:?}"
    );
    for (path, shell) in &scripts {
        let body = std::fs::read_to_string(path).expect("read script");
        assert!(
            body.contains("set -e"),
            "{} must stop at the first error (set -e)",
            path.display()
        );
        run_ok(Command::new("shellcheck").args(["-s", shell]).arg(path));
    }
    // The check is real: a script with an unquoted expansion fails it.
    let bad = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(bad.path(), "#!/bin/sh\nrm -rf $1/x\n").expect("write");
    let out = run(Command::new("shellcheck").arg(bad.path()));
    assert!(!out.status.success(), "shellcheck accepted a bad script");
}

// --- Vagrant ---------------------------------------------------------------

/// A copy of vagrant/ (without dist/ or .vagrant/) with `config` as its
/// config.json when given.
fn vagrant_copy(config: Option<&Value>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = repo().join("vagrant");
    std::fs::copy(src.join("Vagrantfile"), dir.path().join("Vagrantfile")).expect("copy");
    std::fs::create_dir(dir.path().join("provision")).expect("mkdir");
    std::fs::copy(
        src.join("provision/paddock.sh"),
        dir.path().join("provision/paddock.sh"),
    )
    .expect("copy");
    let config = match config {
        Some(c) => c.to_string(),
        None => std::fs::read_to_string(src.join("config.json")).expect("config.json"),
    };
    std::fs::write(dir.path().join("config.json"), config).expect("write config");
    dir
}

fn vagrant(dir: &Path, home: &Path, provider: &str, args: &[&str]) -> Output {
    run(Command::new("vagrant")
        .args(args)
        .current_dir(dir)
        .env("VAGRANT_HOME", home)
        .env("VAGRANT_DEFAULT_PROVIDER", provider)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_NO_COLOR", "1"))
}

#[test]
fn vagrantfile_validates_for_virtualbox_and_libvirt() {
    require_tool("vagrant", "vagrant");
    let home = tempfile::tempdir().expect("VAGRANT_HOME");
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("vagrant/config.json")).expect("config.json"),
    )
    .expect("config.json is JSON");
    assert_eq!(shipped["vm_ram"], 4096, "vm_ram defaults to 4096");
    assert_eq!(shipped["ip"], "10.141.141.10");
    for key in ["vm_cpus", "box", "box_libvirt", "agents"] {
        assert!(shipped.get(key).is_some(), "config.json sets {key}");
    }

    let mut multi = shipped.clone();
    multi["agents"] = json!(2);
    for config in [None, Some(&multi)] {
        let dir = vagrant_copy(config);
        // VirtualBox cannot run here, so its provider block is not checked;
        // Debian's vagrant-libvirt plugin lets libvirt's be checked for real.
        let out = vagrant(
            dir.path(),
            home.path(),
            "virtualbox",
            &["validate", "--ignore-provider"],
        );
        assert!(out.status.success(), "vagrant validate -p:\n{}", text(&out));
        assert!(
            text(&out).contains("validated successfully"),
            "{}",
            text(&out)
        );
        let plugin = Path::new("/usr/share/vagrant-plugins/plugins.d/vagrant-libvirt.json");
        assert!(
            plugin.exists(),
            "the libvirt provider plugin is missing: install the Debian package vagrant-libvirt"
        );
        let out = vagrant(dir.path(), home.path(), "libvirt", &["validate"]);
        assert!(
            out.status.success(),
            "vagrant validate (libvirt):\n{}",
            text(&out)
        );
    }

    // Bad settings are refused with the name of the setting.
    for (key, value, message) in [
        ("agents", json!(-1), "agents must be"),
        ("vm_ram", json!("lots"), "vm_ram must be"),
        ("vm_rma", json!(1024), "unknown setting(s) vm_rma"),
    ] {
        let mut bad = shipped.clone();
        bad[key] = value;
        let dir = vagrant_copy(Some(&bad));
        let out = vagrant(dir.path(), home.path(), "libvirt", &["validate"]);
        assert!(!out.status.success(), "{key}: accepted");
        assert!(text(&out).contains(message), "{key}: {}", text(&out));
    }

    // `vagrant up` with no package built stops before anything starts, and
    // says how to build one.
    let dir = vagrant_copy(None);
    let out = vagrant(dir.path(), home.path(), "libvirt", &["up"]);
    assert!(!out.status.success(), "vagrant up without a .deb went on");
    assert!(
        text(&out).contains("packaging/build-deb.sh vagrant/dist"),
        "{}",
        text(&out)
    );
}

/// What the Vagrantfile in a copy of vagrant/ defines (machines, networks,
/// providers, provisioners), read with a stand-in for Vagrant's API.
fn vagrant_plan(dir: &Path) -> Value {
    let out = run_ok(
        Command::new("ruby")
            .arg(repo().join("vagrant/tests/vagrantfile_plan.rb"))
            .arg(dir.join("Vagrantfile")),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("plan is not JSON ({e}): {out}"))
}

#[test]
fn vagrantfile_defines_a_master_and_n_agents() {
    require_tool("ruby", "ruby (vagrant depends on it)");
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("vagrant/config.json")).expect("config.json"),
    )
    .expect("config.json is JSON");
    let mut config = shipped.clone();
    config["agents"] = json!(2);
    let dir = vagrant_copy(Some(&config));
    // Builds from two days; the newest by version is the one provisioned.
    std::fs::create_dir(dir.path().join("dist")).expect("mkdir");
    for name in [
        "paddock_0.1.0+git20261201101010.abc1234-1_amd64.deb",
        "paddock_0.1.0+git20261202000000.def5678-1_amd64.deb",
        "paddock_0.1.0+git20261130235959.0123456-1_amd64.deb",
    ] {
        std::fs::write(dir.path().join("dist").join(name), b"").expect("write");
    }
    let plan = vagrant_plan(dir.path());
    assert_eq!(plan["box"], shipped["box"]);
    assert_eq!(
        plan["synced_folders"][0]["disabled"], true,
        "nothing is shared from the host (libvirt would need NFS)"
    );
    let machines = plan["machines"].as_array().expect("machines");
    let names: Vec<&str> = machines.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["master", "agent1", "agent2"]);

    let master = &machines[0];
    assert_eq!(master["primary"], true);
    let networks = master["networks"].as_array().expect("networks");
    assert!(networks
        .iter()
        .any(|n| n["kind"] == "private_network" && n["ip"] == "10.141.141.10"));
    let mut forwarded: Vec<i64> = networks
        .iter()
        .filter(|n| n["kind"] == "forwarded_port")
        .filter_map(|n| n["guest"].as_i64())
        .collect();
    forwarded.sort();
    assert_eq!(forwarded, [4400, 5050, 5051, 8080]);
    for (provider, box_key) in [("virtualbox", "box"), ("libvirt", "box_libvirt")] {
        let p = &master["providers"][provider];
        assert_eq!(p["settings"]["memory"], 4096, "{provider} memory");
        assert_eq!(p["settings"]["cpus"], shipped["vm_cpus"], "{provider} cpus");
        assert_eq!(p["box"], shipped[box_key], "{provider} box");
    }
    let provisions = master["provisions"].as_array().expect("provisions");
    assert_eq!(provisions[0]["type"], "file");
    assert!(
        provisions[0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("paddock_0.1.0+git20261202000000.def5678-1_amd64.deb")),
        "not the newest build: {}",
        provisions[0]["source"]
    );
    let args: Vec<&str> = provisions[1]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(provisions[1]["type"], "shell");
    assert_eq!(
        args,
        [
            "--role",
            "both",
            "--deb",
            "/tmp/paddock-dist",
            "--ip",
            "10.141.141.10",
            "--master",
            "10.141.141.10:5050"
        ]
    );

    for (n, agent) in machines[1..].iter().enumerate() {
        let ip = format!("10.141.141.{}", 11 + n);
        assert!(agent["networks"]
            .as_array()
            .expect("networks")
            .iter()
            .any(|net| net["kind"] == "private_network" && net["ip"] == ip.as_str()));
        assert_eq!(
            agent["providers"]["libvirt"]["settings"]["memory"],
            shipped["agent_ram"]
        );
        let args = agent["provisions"][1]["args"].to_string();
        assert!(
            args.contains(r#""--role","agent""#)
                && args.contains(&format!(r#""--ip","{ip}""#))
                && args.contains(r#""--master","10.141.141.10:5050""#),
            "agent {n}: {args}"
        );
    }
}

// --- systemd units ---------------------------------------------------------

fn unit(name: &str) -> String {
    std::fs::read_to_string(repo().join("packaging/systemd").join(name)).expect("unit file")
}

fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .collect()
}

/// `systemd-analyze verify` on copies of `units` whose ExecStart names a
/// binary that exists here; returns what it printed.
fn verify_units(units: &[(&str, String)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = paddock_bin();
    let mut paths = Vec::new();
    for (name, body) in units {
        let p = dir.path().join(name);
        let body = body.replace("/usr/bin/paddock", &bin.display().to_string());
        std::fs::write(&p, body).expect("write unit");
        paths.push(p);
    }
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths));
    (out.status.success(), text(&out))
}

#[test]
fn systemd_units_verify_and_say_what_they_must() {
    require_tool("systemd-analyze", "systemd");
    let master = unit("paddock-master.service");
    let agent = unit("paddock-agent.service");

    let (ok, printed) = verify_units(&[
        ("paddock-master.service", master.clone()),
        ("paddock-agent.service", agent.clone()),
    ]);
    assert!(
        ok && printed.trim().is_empty(),
        "systemd-analyze verify:\n{printed}"
    );
    // The check is real: a bad value is reported.
    let (_, printed) = verify_units(&[(
        "paddock-agent.service",
        agent.replace("KillMode=process", "KillMode=bogus"),
    )]);
    assert!(
        printed.contains("bogus"),
        "a bad KillMode went unreported: {printed}"
    );

    for (name, body) in [("master", &master), ("agent", &agent)] {
        assert_eq!(
            directive(body, "Restart"),
            ["on-failure"],
            "{name}: Restart="
        );
        assert_eq!(directive(body, "WantedBy"), ["multi-user.target"], "{name}");
    }
    assert_eq!(directive(&master, "User"), ["paddock"]);
    assert_eq!(
        directive(&master, "EnvironmentFile"),
        ["-/etc/paddock/master.conf"]
    );
    assert_eq!(directive(&agent, "User"), ["root"]);
    assert_eq!(
        directive(&agent, "EnvironmentFile"),
        ["-/etc/paddock/agent.conf"]
    );
    assert_eq!(directive(&agent, "KillMode"), ["process"]);
    let comments: String = agent
        .lines()
        .filter(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        comments.contains("root") && comments.contains("cgroup") && comments.contains("namespaces"),
        "the agent unit must say why it runs as root"
    );
}

// --- the .deb on a fresh Debian root, under systemd --------------------------

fn cache_dir() -> PathBuf {
    std::env::var_os("PADDOCK_PACKAGING_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/paddock-packaging-cache"))
}

/// What the fresh root has beside debootstrap's minbase: what a Debian or
/// Ubuntu server install has too (systemd as init, D-Bus, CA certificates).
const ROOT_PACKAGES: &str = "systemd,systemd-sysv,dbus,ca-certificates";

/// A tarball of a fresh Debian bookworm root (minbase plus ROOT_PACKAGES),
/// made once with debootstrap and kept in the cache.
fn debian_root_tarball() -> PathBuf {
    let cache = cache_dir();
    let tarball = cache.join(format!(
        "debian-bookworm-minbase-{}.tar",
        ROOT_PACKAGES.replace(',', "+")
    ));
    if tarball.exists() {
        return tarball;
    }
    require_tool("debootstrap", "debootstrap");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let work = tempfile::tempdir_in(&cache).expect("debootstrap dir");
    let root = work.path().join("root");
    let mirror = std::env::var("PADDOCK_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    eprintln!(
        "packaging: debootstrap bookworm from {mirror} (once; cached in {})",
        cache.display()
    );
    run_ok(
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={ROOT_PACKAGES}"))
            .arg("bookworm")
            .arg(&root)
            .arg(&mirror),
    );
    let partial = work.path().join("root.tar");
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "-cf"])
            .arg(&partial)
            .arg("-C")
            .arg(&root)
            .arg("."),
    );
    // Atomic: a concurrent or interrupted run never sees half a tarball.
    std::fs::rename(&partial, &tarball).expect("publish the tarball");
    tarball
}

/// Builds the .deb from the debug binary (quick) with `version` into `out`.
fn build_deb(out: &Path, version: &str) -> PathBuf {
    // cargo-deb takes the binary from <target dir>/debug: the one under test.
    let bin = paddock_bin();
    let profile_dir = bin.parent().expect("the binary's directory");
    assert!(
        profile_dir.ends_with("debug"),
        "{} is not in a cargo target dir's debug/",
        bin.display()
    );
    let target_dir = profile_dir.parent().expect("the target dir");
    let printed = run_ok(
        Command::new("bash")
            .env("CARGO_TARGET_DIR", target_dir)
            .arg(repo().join("packaging/build-deb.sh"))
            .arg(out)
            .args([
                "--profile",
                "dev",
                "--no-build",
                "--fast",
                "--version",
                version,
            ])
            .current_dir(repo()),
    );
    let deb = PathBuf::from(printed.lines().last().unwrap_or_default().trim());
    assert!(deb.is_file(), "build-deb.sh printed {printed:?}");
    deb
}

/// A booted systemd-nspawn container; powered off (then killed) on drop.
struct Container {
    nspawn: Child,
    leader: i32,
    log: PathBuf,
    cgroups: TestCgroups,
}

impl Container {
    fn boot(root: &Path, log: PathBuf, name: &str) -> Container {
        let _ = std::fs::create_dir_all("/run/systemd/nspawn");
        // The container lives in cgroups of its own: what its systemd and
        // its agent create there goes when the test ends.
        let cgroups = TestCgroups::create(name);
        let logf = std::fs::File::create(&log).expect("log");
        let nspawn = Command::new("sh")
            .args([
                "-c",
                r#"for f in $PROCS; do echo $$ >"$f" || exit 1; done; exec "$@""#,
                "sh",
                "systemd-nspawn",
                "-D",
            ])
            .arg(root)
            .env("PROCS", cgroups.procs_files())
            // No machined, no D-Bus on this host: stay in our own cgroup.
            .args(["--register=no", "--keep-unit", "--console=passive"])
            // SIGTERM to nspawn becomes a clean poweroff of the container.
            .arg("--kill-signal=SIGRTMIN+3")
            .arg("/usr/local/sbin/paddock-test-init")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("systemd-nspawn");
        let mut c = Container {
            nspawn,
            leader: 0,
            log,
            cgroups,
        };
        let nspawn_pid = c.nspawn.id();
        c.leader = wait_for("the container's systemd", Duration::from_secs(30), || {
            let children =
                std::fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children"))
                    .ok()?;
            let pid: i32 = children.split_whitespace().next()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "systemd").then_some(pid)
        });
        // "starting" while it boots; no answer until its D-Bus is up.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = c.sh("systemctl is-system-running");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the container did not boot ({}):\n{}",
                text(&out),
                c.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    /// Runs a shell script inside the container, as root.
    fn sh(&self, script: &str) -> Output {
        run(Command::new("nsenter")
            .args([
                "-t",
                &self.leader.to_string(),
                "-a",
                "--",
                "/bin/sh",
                "-c",
                script,
            ])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive"))
    }

    /// Runs a script that must succeed; returns its stdout, trimmed.
    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in the container, `{script}` failed:\n{}\n--- journal ---\n{}",
            text(&out),
            self.journal()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn journal(&self) -> String {
        let out = self.sh("journalctl --no-pager -n 80 -u paddock-master -u paddock-agent");
        text(&out)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn main_pid(&self, unit: &str) -> i32 {
        self.sh_ok(&format!("systemctl show -p MainPID --value {unit}"))
            .parse()
            .unwrap_or(0)
    }

    fn is_active(&self, unit: &str) -> String {
        let out = self.sh(&format!("systemctl is-active {unit}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Pids (in the container) of processes whose argv is exactly `argv`.
    fn pids_of(&self, argv: &str) -> Vec<i32> {
        let script = format!(
            "for p in /proc/[0-9]*; do \
               [ \"$(tr '\\0' ' ' <$p/cmdline 2>/dev/null)\" = '{argv} ' ] && echo ${{p#/proc/}}; \
             done; true"
        );
        self.sh_ok(&script)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Pids of processes started from /usr/bin/paddock.
    fn paddock_pids(&self) -> Vec<i32> {
        let script = "for p in /proc/[0-9]*; do \
               case \"$(readlink $p/exe 2>/dev/null)\" in /usr/bin/paddock*) echo ${p#/proc/};; esac; \
             done; true";
        self.sh_ok(script)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- container journal ---\n{}", self.journal());
            let sandboxes = self.sh(
                "find /var/lib/paddock/agent -name stderr -exec sh -c 'echo \"== $1\"; tail -n 30 \"$1\"' _ {} \\;",
            );
            eprintln!("--- task sandboxes ---\n{}", text(&sandboxes));
            eprintln!("--- nspawn ---\n{}", self.log_text());
        }
        let pid = nix::unistd::Pid::from_raw(self.nspawn.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        self.cgroups.remove();
    }
}

/// A cgroup named `name` in every hierarchy this process is in (v1
/// controllers, the named systemd hierarchy, the unified one), under this
/// process's own cgroup there.
struct TestCgroups {
    dirs: Vec<PathBuf>,
}

impl TestCgroups {
    fn create(name: &str) -> TestCgroups {
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
        let mut dirs = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
                (Some(id), Some(c), Some(p)) => (id, c, p),
                _ => continue,
            };
            let mount = if controllers.is_empty() {
                if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
                    PathBuf::from("/sys/fs/cgroup")
                } else {
                    PathBuf::from("/sys/fs/cgroup/unified")
                }
            } else {
                PathBuf::from("/sys/fs/cgroup")
                    .join(controllers.strip_prefix("name=").unwrap_or(controllers))
            };
            let parent = mount.join(path.trim_start_matches('/'));
            if !parent.join("cgroup.procs").exists() {
                continue;
            }
            let dir = parent.join(name);
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            // A v1 cpuset cgroup takes tasks only once it has cpus and mems.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(parent.join(file)) {
                    let _ = std::fs::write(dir.join(file), v.trim());
                }
            }
            dirs.push(dir);
        }
        assert!(!dirs.is_empty(), "no cgroup hierarchy found:\n{own}");
        TestCgroups { dirs }
    }

    fn procs_files(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.join("cgroup.procs").display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Kills what is left in them and removes them, deepest first.
    fn remove(&self) {
        for dir in &self.dirs {
            remove_cgroup_tree(dir);
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    for _ in 0..100 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() && std::fs::remove_dir(dir).is_ok() {
            return;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("packaging: could not remove cgroup {}", dir.display());
}

fn provision_cmd(
    deb: &str,
    ports: &Ports,
    frameworks: bool,
    cgroup_root: &str,
    agent_extra: &str,
) -> String {
    let mut master_args = format!("--port {}", ports.master);
    if frameworks {
        master_args += &format!(
            " --marathon-port {} --chronos-port {}",
            ports.marathon, ports.chronos
        );
    }
    format!(
        "bash /root/paddock-test/provision/paddock.sh --role both --deb {deb} --master 127.0.0.1:{} \
         --master-args '{master_args}' \
         --agent-args '--port {} --cgroup-root {cgroup_root} \
         --resources cpus:2;mem:1024;disk:1000;ports:[31000-31009] {agent_extra}'",
        ports.master, ports.agent
    )
}

/// Agent flags that the test's second provisioning run adds.
const ATTRS: &str = "--attributes rack:r1";

struct Ports {
    master: u16,
    agent: u16,
    marathon: u16,
    chronos: u16,
}

/// Whether this build's master runs the built-in Marathon and Chronos.
fn master_has_frameworks() -> bool {
    let out = run(Command::new(paddock_bin()).args(["master", "--help"]));
    let help = text(&out);
    help.contains("--marathon-port") && help.contains("--chronos-port")
}

fn wait_agent(master: &str) {
    wait_for("the agent to register", Duration::from_secs(30), || {
        let s = get_json(&format!("http://{master}/master/slaves"))?;
        let slaves = s["slaves"].as_array()?;
        (slaves.len() == 1 && slaves[0]["active"] == true).then_some(())
    });
}

fn task_state(master: &str, id: &str) -> Option<String> {
    let t = get_json(&format!("http://{master}/master/tasks"))?;
    t["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["id"] == id)
        .and_then(|t| t["state"].as_str().map(String::from))
}

#[test]
fn deb_installs_runs_upgrades_and_purges_on_a_fresh_debian() {
    if !is_root() {
        eprintln!("SKIPPED: packaging needs root (chroot, systemd-nspawn, dpkg in a container)");
        return;
    }
    let started = Instant::now();
    require_tool("systemd-nspawn", "systemd-container");
    require_tool("nsenter", "util-linux");
    let frameworks = master_has_frameworks();
    if !frameworks {
        eprintln!(
            "packaging: `paddock master` has no --marathon-port/--chronos-port yet: \
             the Marathon app and Chronos job steps are skipped"
        );
    }

    // Two builds of the same binary, the second a newer version.
    let dist = tempfile::tempdir().expect("dist");
    let v1 = "0.1.0+pkgtest1-1";
    let v2 = "0.1.0+pkgtest2-1";
    let deb1 = build_deb(&dist.path().join("1"), v1);
    let deb2 = build_deb(&dist.path().join("2"), v2);

    // A fresh Debian root with the debs, the provisioning script and the
    // container's init.
    let tarball = debian_root_tarball();
    std::fs::create_dir_all(cache_dir()).expect("cache dir");
    let work = tempfile::tempdir_in(cache_dir()).expect("work dir");
    let root = work.path().join("root");
    std::fs::create_dir(&root).expect("root");
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "-xf"])
            .arg(&tarball)
            .arg("-C")
            .arg(&root),
    );
    for (deb, dir) in [
        (&deb1, "root/paddock-test/dist1"),
        (&deb2, "root/paddock-test/dist2"),
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        std::fs::copy(deb, root.join(dir).join(deb.file_name().expect("name"))).expect("copy");
    }
    std::fs::create_dir_all(root.join("root/paddock-test/provision")).expect("mkdir");
    std::fs::copy(
        repo().join("vagrant/provision/paddock.sh"),
        root.join("root/paddock-test/provision/paddock.sh"),
    )
    .expect("copy");
    std::fs::copy(
        repo().join("packaging/tests/nspawn-init.sh"),
        root.join("usr/local/sbin/paddock-test-init"),
    )
    .expect("copy");

    let ports = Ports {
        master: free_port(),
        agent: free_port(),
        marathon: free_port(),
        chronos: free_port(),
    };
    let master = format!("127.0.0.1:{}", ports.master);
    let cgroup_root = format!("paddock-pkgtest-{}-{}", std::process::id(), ports.master);

    eprintln!("packaging: step 1 at {:.1?}", started.elapsed());
    // 1. Provision in a chroot, where systemd is not running: the package
    //    installs (apt-get resolves its dependencies) and the services are
    //    enabled for the next boot.
    let out = run(Command::new("chroot")
        .arg(&root)
        .args([
            "/bin/sh",
            "-c",
            &provision_cmd(
                "/root/paddock-test/dist1",
                &ports,
                frameworks,
                &cgroup_root,
                "",
            ),
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    assert!(
        out.status.success(),
        "provisioning in a chroot:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("installing paddock {v1}")),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("enabled, to start at the next boot"),
        "{}",
        text(&out)
    );
    for unit in ["paddock-master.service", "paddock-agent.service"] {
        assert!(
            std::fs::symlink_metadata(
                root.join("etc/systemd/system/multi-user.target.wants")
                    .join(unit)
            )
            .is_ok(),
            "{unit} is not enabled"
        );
    }

    eprintln!("packaging: step 2 at {:.1?}", started.elapsed());
    // 2. Boot it: systemd starts both services.
    let c = Container::boot(
        &root,
        work.path().join("nspawn.log"),
        &format!("{cgroup_root}-container"),
    );
    let printed = c
        .sh_ok("systemd-analyze verify --man=no paddock-master.service paddock-agent.service 2>&1");
    assert!(
        printed.is_empty(),
        "the installed units do not verify:\n{printed}"
    );
    wait_for("both services active", Duration::from_secs(30), || {
        (c.is_active("paddock-master") == "active" && c.is_active("paddock-agent") == "active")
            .then_some(())
    });
    wait_for("the master's /health", Duration::from_secs(30), || {
        http()
            .get(format!("http://{master}/health"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    wait_agent(&master);

    // The master runs as `paddock`, which owns its state; the agent as root.
    let master_pid = c.main_pid("paddock-master");
    let agent_pid = c.main_pid("paddock-agent");
    assert_eq!(
        c.sh_ok(&format!("stat -c %U /proc/{master_pid}")),
        "paddock"
    );
    assert_eq!(c.sh_ok(&format!("stat -c %U /proc/{agent_pid}")), "root");
    assert_eq!(
        c.sh_ok("stat -c '%U %a' /var/lib/paddock/master"),
        "paddock 750"
    );
    assert_eq!(
        c.sh_ok("getent passwd paddock | cut -d: -f7"),
        "/usr/sbin/nologin"
    );

    eprintln!("packaging: step 3 at {:.1?}", started.elapsed());
    // 3. Provisioning again changes nothing and restarts nothing.
    let again = c.sh_ok(&provision_cmd(
        "/root/paddock-test/dist1",
        &ports,
        frameworks,
        &cgroup_root,
        "",
    ));
    assert!(
        again.contains(&format!("paddock {v1} is already installed")),
        "{again}"
    );
    assert!(!again.contains("restarting"), "{again}");
    assert_eq!(c.main_pid("paddock-master"), master_pid);
    assert_eq!(c.main_pid("paddock-agent"), agent_pid);

    eprintln!("packaging: step 4 at {:.1?}", started.elapsed());
    // 4. A Mesos task runs.
    let mut sched = Scheduler::subscribe(
        &master,
        json!({"user": "root", "name": "pkg-smoke", "failover_timeout": 3600.0}),
    );
    let offer = sched.next_offer(Duration::from_secs(20));
    let sleep_secs = 3000 + u32::from(ports.agent % 997);
    let argv = format!("sleep {sleep_secs}");
    // Refuse the rest of the agent for an hour and ask for no more offers:
    // Marathon and Chronos get them instead of this framework holding them.
    let task = command_task("pkg-sleep", &offer, &format!("exec {argv}"), 0.1, 32.0);
    let code = sched.call(json!({
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            "filters": {"refuse_seconds": 3600.0}
        }
    }));
    assert_eq!(code, 202, "ACCEPT");
    assert_eq!(sched.call(json!({"type": "SUPPRESS"})), 202, "SUPPRESS");
    sched.wait_state("pkg-sleep", "TASK_RUNNING", Duration::from_secs(30));
    let task_pids = wait_for("the task's process", Duration::from_secs(10), || {
        let p = c.pids_of(&argv);
        (p.len() == 1).then_some(p)
    });

    // Its executor leads its own session, in the agent's task cgroup.
    let executor = c.sh_ok(
        "for p in /proc/[0-9]*; do \
           [ \"$(tr '\\0' ' ' <$p/cmdline 2>/dev/null | cut -d' ' -f2)\" = executor ] && echo ${p#/proc/}; \
         done; true",
    );
    let executor: i32 = executor
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no `paddock executor` process in the container"));
    let stat = c.sh_ok(&format!("cat /proc/{executor}/stat"));
    let session = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(3))
        .unwrap_or_default();
    assert_eq!(
        session,
        executor.to_string(),
        "the executor is not a session leader"
    );
    let cgroups = c.sh_ok(&format!("cat /proc/{executor}/cgroup"));
    assert!(
        cgroups
            .lines()
            .any(|l| l.contains(&format!("/{cgroup_root}/"))),
        "the executor is not in the task cgroup:\n{cgroups}"
    );

    eprintln!("packaging: step 5 at {:.1?}", started.elapsed());
    // 5. Stopping the agent leaves the task running (KillMode=process); the
    //    restarted agent recovers it.
    c.sh_ok("systemctl stop paddock-agent");
    assert_eq!(c.is_active("paddock-agent"), "inactive");
    assert_eq!(
        c.pids_of(&argv),
        task_pids,
        "stopping the agent killed its task"
    );
    c.sh_ok("systemctl start paddock-agent");
    wait_agent(&master);
    wait_for(
        "the agent to recover the task",
        Duration::from_secs(30),
        || {
            let state = get_json(&format!("http://127.0.0.1:{}/state", ports.agent))?;
            state.to_string().contains("pkg-sleep").then_some(())
        },
    );
    assert_eq!(
        task_state(&master, "pkg-sleep").as_deref(),
        Some("TASK_RUNNING")
    );
    assert_eq!(c.pids_of(&argv), task_pids);

    // Changed settings are written and the agent restarts on them; the
    // task stays.
    let agent_pid = c.main_pid("paddock-agent");
    let changed = c.sh_ok(&provision_cmd(
        "/root/paddock-test/dist1",
        &ports,
        frameworks,
        &cgroup_root,
        ATTRS,
    ));
    assert!(
        changed.contains("settings changed: restarting paddock-agent.service"),
        "{changed}"
    );
    assert!(!changed.contains("restarting paddock-master"), "{changed}");
    assert_ne!(c.main_pid("paddock-agent"), agent_pid);
    wait_for(
        "the agent's new attributes",
        Duration::from_secs(30),
        || {
            let s = get_json(&format!("http://{master}/master/slaves"))?;
            let slave = &s["slaves"][0];
            (slave["active"] == true && slave["attributes"]["rack"] == "r1").then_some(())
        },
    );
    assert_eq!(
        c.pids_of(&argv),
        task_pids,
        "the settings change killed the task"
    );

    eprintln!("packaging: step 6 at {:.1?}", started.elapsed());
    // 6. Marathon and Chronos, inside the master.
    if frameworks {
        marathon_and_chronos(&ports);
    }
    drop(sched);

    eprintln!("packaging: step 7 at {:.1?}", started.elapsed());
    // 7. A master that dies is restarted (Restart=on-failure), and the agent
    //    brings its task back to it.
    let before = c.main_pid("paddock-master");
    c.sh_ok("systemctl kill --signal=SIGKILL paddock-master");
    wait_for(
        "systemd to restart the master",
        Duration::from_secs(30),
        || {
            let pid = c.main_pid("paddock-master");
            (pid != 0 && pid != before && c.is_active("paddock-master") == "active").then_some(())
        },
    );
    let restarts: u32 = c
        .sh_ok("systemctl show -p NRestarts --value paddock-master")
        .parse()
        .unwrap_or(0);
    assert!(restarts >= 1, "NRestarts={restarts}");
    wait_agent(&master);
    wait_for(
        "the task back on the restarted master",
        Duration::from_secs(30),
        || (task_state(&master, "pkg-sleep").as_deref() == Some("TASK_RUNNING")).then_some(()),
    );

    eprintln!("packaging: step 8 at {:.1?}", started.elapsed());
    // 8. `dpkg -i` of a newer version upgrades: both services restart on the
    //    new binary, the settings stay, the task keeps running.
    let (master_pid, agent_pid) = (c.main_pid("paddock-master"), c.main_pid("paddock-agent"));
    c.sh_ok(&format!(
        "dpkg -i /root/paddock-test/dist2/{}",
        deb2.file_name().expect("name").to_string_lossy()
    ));
    assert_eq!(c.sh_ok("dpkg-query -W -f '${Version}' paddock"), v2);
    wait_for(
        "both services restarted after the upgrade",
        Duration::from_secs(30),
        || {
            let (m, a) = (c.main_pid("paddock-master"), c.main_pid("paddock-agent"));
            (m != 0
                && a != 0
                && m != master_pid
                && a != agent_pid
                && c.is_active("paddock-master") == "active"
                && c.is_active("paddock-agent") == "active")
                .then_some(())
        },
    );
    assert!(c
        .sh_ok("cat /etc/paddock/master.conf")
        .contains(&format!("PADDOCK_MASTER_ARGS=--port {}", ports.master)));
    wait_agent(&master);
    assert_eq!(c.pids_of(&argv), task_pids, "the upgrade killed the task");
    let again = c.sh_ok(&provision_cmd(
        "/root/paddock-test/dist2",
        &ports,
        frameworks,
        &cgroup_root,
        ATTRS,
    ));
    assert!(
        again.contains(&format!("paddock {v2} is already installed")),
        "{again}"
    );
    let older = c.sh_ok(&provision_cmd(
        "/root/paddock-test/dist1",
        &ports,
        frameworks,
        &cgroup_root,
        ATTRS,
    ));
    assert!(older.contains("not downgrading"), "{older}");

    // A host that becomes a master only: the agent is disabled and stopped,
    // the master is left alone (its settings did not change).
    let master_pid = c.main_pid("paddock-master");
    let to_master = c.sh_ok(
        &provision_cmd(
            "/root/paddock-test/dist2",
            &ports,
            frameworks,
            &cgroup_root,
            ATTRS,
        )
        .replace("--role both", "--role master"),
    );
    assert!(
        to_master.contains("disabling paddock-agent.service"),
        "{to_master}"
    );
    assert_eq!(c.is_active("paddock-agent"), "inactive");
    assert!(!c.sh("systemctl is-enabled paddock-agent").status.success());
    assert_eq!(c.main_pid("paddock-master"), master_pid);
    assert_eq!(c.is_active("paddock-master"), "active");

    eprintln!("packaging: step 9 at {:.1?}", started.elapsed());
    // 9. Purge removes everything: services, tasks, state, user, files.
    c.sh_ok("apt-get purge -y -q paddock");
    let status = c.sh_ok("dpkg-query -W -f '${db:Status-Abbrev}' paddock 2>/dev/null || true");
    assert!(
        status.is_empty() || status.starts_with("un"),
        "after purge: {status}"
    );
    for path in [
        "/usr/bin/paddock",
        "/etc/paddock",
        "/var/lib/paddock",
        "/usr/lib/systemd/system/paddock-master.service",
        "/usr/lib/systemd/system/paddock-agent.service",
        "/etc/systemd/system/multi-user.target.wants/paddock-master.service",
        "/etc/systemd/system/multi-user.target.wants/paddock-agent.service",
    ] {
        assert_eq!(
            c.sh_ok(&format!(
                "test -e {path} || test -L {path} && echo left || true"
            )),
            "",
            "purge left {path}"
        );
    }
    assert!(
        !c.sh("getent passwd paddock").status.success(),
        "the user is left"
    );
    assert!(
        !c.sh("getent group paddock").status.success(),
        "the group is left"
    );
    assert_eq!(
        c.paddock_pids(),
        Vec::<i32>::new(),
        "paddock processes are left"
    );
    assert_eq!(
        c.pids_of(&argv),
        Vec::<i32>::new(),
        "the task outlived the purge"
    );
    assert_eq!(
        c.pids_of("sleep 3600"),
        Vec::<i32>::new(),
        "the Marathon app's task outlived the purge"
    );
    assert_eq!(
        c.sh_ok(&format!(
            "find /sys/fs/cgroup -maxdepth 3 -name '{cgroup_root}'"
        )),
        "",
        "task cgroups are left"
    );
    assert!(
        http()
            .get(format!("http://{master}/health"))
            .send()
            .is_err(),
        "the master still answers"
    );
    eprintln!("packaging: done in {:?}", started.elapsed());
}

/// POSTs a Marathon app and a Chronos job and sees both run.
fn marathon_and_chronos(ports: &Ports) {
    let marathon = format!("http://127.0.0.1:{}", ports.marathon);
    let chronos = format!("http://127.0.0.1:{}", ports.chronos);
    let r = http()
        .post(format!("{marathon}/v2/apps"))
        .json(
            &json!({"id": "/pkg-smoke", "cmd": "exec sleep 3600", "cpus": 0.1, "mem": 32,
                      "instances": 1}),
        )
        .send()
        .expect("POST /v2/apps");
    assert_eq!(r.status().as_u16(), 201, "POST /v2/apps: {:?}", r.text());
    wait_json(
        "the Marathon app to run",
        &format!("{marathon}/v2/apps/pkg-smoke"),
        |app| app["app"]["tasksRunning"] == 1,
        &[format!("{marathon}/v2/deployments")],
    );

    let r = http()
        .post(format!("{chronos}/v1/scheduler/iso8601"))
        .json(
            &json!({"name": "pkg-smoke-job", "command": "echo chronos-ran",
                      "schedule": "R1//PT1M", "epsilon": "PT1M", "owner": "ops@example.com",
                      "cpus": 0.1, "mem": 32}),
        )
        .send()
        .expect("POST /v1/scheduler/iso8601");
    assert!(
        r.status().is_success(),
        "POST /v1/scheduler/iso8601: {} {:?}",
        r.status(),
        r.text()
    );
    wait_json(
        "the Chronos job to succeed",
        &format!("{chronos}/v1/scheduler/jobs"),
        |jobs| {
            jobs.as_array()
                .and_then(|jobs| jobs.iter().find(|j| j["name"] == "pkg-smoke-job"))
                .and_then(|job| job["successCount"].as_i64())
                .is_some_and(|n| n >= 1)
        },
        &[format!("{chronos}/v1/scheduler/job/pkg-smoke-job/runs")],
    );
}

/// Polls `url` until `done` holds for its JSON; at the deadline, panics with
/// what it last saw and what the `context` URLs answer.
fn wait_json(what: &str, url: &str, done: impl Fn(&Value) -> bool, context: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        last = get_json(url);
        if last.as_ref().is_some_and(&done) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut seen = format!("{url}: {last:?}");
    for u in context {
        seen += &format!("\n{u}: {:?}", get_json(u));
    }
    panic!("timed out waiting for {what}:\n{seen}");
}
