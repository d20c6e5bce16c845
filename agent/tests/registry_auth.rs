//! Registry credentials for image tasks, end to end: Debian's
//! docker-registry on loopback with htpasswd basic auth, a busybox image
//! pushed to it by skopeo with the credentials, and real masters and agents
//! (and Marathon, and dockerd for the DOCKER containerizer) that must pull
//! it:
//! - a MESOS image task without credentials fails, saying which registry
//!   refused it;
//! - the agent's `--docker-config` (a file) lets it run;
//! - a task-level `container.mesos.image.docker.config` VALUE secret, or a
//!   REFERENCE to a file under `--secrets-dir`, lets it run; a reference
//!   that cannot be resolved fails naming the field;
//! - a Marathon app's `container.docker.pullConfig` secret lets it run, and
//!   one naming an undefined secret is a 422;
//! - a DOCKER task pulls through dockerd with the agent's credentials.
//!
//! The password never shows in a status message, `/flags` or a log.
//!
//! Needs root, cgroups, the `paddock` binary (`cargo build -p paddock`), the
//! apt packages docker-registry, apache2-utils, skopeo, busybox-static, and
//! for the DOCKER tests a running dockerd (`scripts/start-services.sh`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use paddock_images::testing::{busybox_image, LocalRegistry};
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{free_port, get_json, http, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const LAUNCH: Duration = Duration::from_secs(90);
const USER: &str = "h1-puller";
const PASSWORD: &str = "h1-Pa55-w0rd-never-logged";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A registry that wants basic auth, with the busybox image pushed under a
/// repository unique to this process (so no engine has it cached).
fn auth_registry(repo: &str) -> (LocalRegistry, String) {
    let reg = LocalRegistry::start_with_basic_auth(USER, PASSWORD)
        .unwrap_or_else(|e| panic!("registry: {e}"));
    let image = busybox_image().unwrap_or_else(|e| panic!("busybox image: {e}"));
    let repo = format!("h1auth{}/{repo}", std::process::id());
    let reference = reg
        .push_image(&image, &repo)
        .unwrap_or_else(|e| panic!("push: {e}"));
    (reg, reference)
}

/// A Docker config.json with `password` for `reg`.
fn docker_config(reg: &LocalRegistry, password: &str) -> String {
    json!({"auths": {reg.addr(): {"auth": b64(&format!("{USER}:{password}"))}}}).to_string()
}

fn framework(name: &str) -> Value {
    json!({"user": "root", "name": name, "failover_timeout": 0})
}

fn cluster(name: &str, agent_flags: &[&str]) -> (Cluster, Scheduler) {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, agent_flags);
    let s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework(name));
    (c, s)
}

/// A MESOS image task that prints the image's /etc/hello; never from the
/// agent's cache (`cached: false`), so every task pulls.
fn image_task(id: &str, offer: &Value, image: &str, config: Option<Value>) -> Value {
    let mut t = command_task(id, offer, "cat /etc/hello", 0.2, 64.0);
    let mut docker = json!({ "name": image });
    if let Some(c) = config {
        docker["config"] = c;
    }
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": docker, "cached": false}}
    });
    t
}

fn value_secret(config: &str) -> Value {
    json!({"type": "VALUE", "value": {"data": b64(config)}})
}

fn reference_secret(name: &str, key: Option<&str>) -> Value {
    let mut r = json!({"type": "REFERENCE", "reference": {"name": name}});
    if let Some(k) = key {
        r["reference"]["key"] = json!(k);
    }
    r
}

/// Launches one task on the next offer and waits for `state`.
fn run(s: &mut Scheduler, id: &str, state: &str, task: impl Fn(&Value) -> Value) -> Value {
    let offer = s.next_offer(Duration::from_secs(20));
    s.launch(&offer, vec![task(&offer)]);
    s.wait_state(id, state, LAUNCH)
}

fn message(status: &Value) -> String {
    status["message"].as_str().unwrap_or_default().to_string()
}

/// The status says authentication failed for `registry`, and no password.
fn assert_auth_failure(status: &Value, registry: &str, how: &str) {
    assert_eq!(
        status["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{status}"
    );
    let msg = message(status);
    assert!(
        msg.contains(&format!("authentication failed for registry {registry}")),
        "{msg}"
    );
    assert!(msg.contains(how), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
}

/// `POST /images/pull` on the agent without credentials; the status.
fn image_pull(c: &Cluster, image: &str) -> u16 {
    http()
        .post(c.agent_url(0, "/images/pull"))
        .json(&json!({ "image": image }))
        .send()
        .expect("POST /images/pull")
        .status()
        .as_u16()
}

fn assert_no_password_in(c: &Cluster) {
    let logs = c.logs();
    assert!(!logs.contains(PASSWORD), "a log shows the password");
    assert!(!logs.contains(&b64(&format!("{USER}:{PASSWORD}"))));
}

/// `task`'s stdout, from its sandbox.
fn stdout_of(c: &Cluster, task: &str) -> String {
    let state = get_json(&c.agent_url(0, "/state")).expect("agent /state");
    let mut dirs = Vec::new();
    for fw in state["frameworks"].as_array().into_iter().flatten().chain(
        state["completed_frameworks"]
            .as_array()
            .into_iter()
            .flatten(),
    ) {
        for ex in fw["executors"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(fw["completed_executors"].as_array().into_iter().flatten())
        {
            if ex["id"] == task {
                dirs.extend(ex["directory"].as_str().map(str::to_string));
            }
        }
    }
    let dir = dirs
        .first()
        .unwrap_or_else(|| panic!("no sandbox for {task} in {state}"));
    std::fs::read_to_string(Path::new(dir).join("stdout")).unwrap_or_default()
}

/// A --secrets-dir with `registry/creds` (a Docker config for `reg`) and
/// `bundle.json` (the same config under the key `dockercfg`).
fn secrets_dir(reg: &LocalRegistry) -> tempfile::TempDir {
    let secrets = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(secrets.path().join("registry")).expect("mkdir");
    let config = docker_config(reg, PASSWORD);
    std::fs::write(secrets.path().join("registry/creds"), &config).expect("write secret");
    let bundle = json!({ "dockercfg": config }).to_string();
    std::fs::write(secrets.path().join("bundle.json"), bundle).expect("write secret");
    secrets
}

#[test]
fn a_mesos_image_task_fails_without_credentials_and_runs_with_a_task_secret() {
    let (reg, image) = auth_registry("busybox:value");
    let secrets = secrets_dir(&reg);
    let dir = secrets.path().display().to_string();
    let (c, mut s) = cluster("auth-task", &["--secrets-dir", &dir]);

    // (a) No credentials anywhere: the registry's 401 is the message.
    let failed = run(&mut s, "anon", "TASK_FAILED", |o| {
        image_task("anon", o, &image, None)
    });
    assert_auth_failure(&failed, &reg.addr(), "without credentials");
    assert_eq!(image_pull(&c, &image), 403, "no credentials: refused");

    // A wrong password in the task's config: refused too, and said so.
    let wrong = value_secret(&docker_config(&reg, "not-the-password"));
    let failed = run(&mut s, "wrong", "TASK_FAILED", |o| {
        image_task("wrong", o, &image, Some(wrong.clone()))
    });
    assert_auth_failure(&failed, &reg.addr(), "container.mesos.image.docker.config");

    // (c) A VALUE secret with the right credentials: it runs.
    let good = value_secret(&docker_config(&reg, PASSWORD));
    run(&mut s, "value", "TASK_FINISHED", |o| {
        image_task("value", o, &image, Some(good.clone()))
    });
    assert_eq!(stdout_of(&c, "value"), "hello from paddock\n");

    // A REFERENCE to a file under --secrets-dir (Marathon's spelling, with
    // a leading slash), and to one key of a JSON file there.
    run(&mut s, "ref", "TASK_FINISHED", |o| {
        image_task(
            "ref",
            o,
            &image,
            Some(reference_secret("/registry/creds", None)),
        )
    });
    assert_eq!(stdout_of(&c, "ref"), "hello from paddock\n");
    run(&mut s, "ref-key", "TASK_FINISHED", |o| {
        image_task(
            "ref-key",
            o,
            &image,
            Some(reference_secret("bundle.json", Some("dockercfg"))),
        )
    });

    // A reference that cannot be resolved fails naming the field.
    let failed = run(&mut s, "ref-missing", "TASK_FAILED", |o| {
        image_task(
            "ref-missing",
            o,
            &image,
            Some(reference_secret("registry/nope", None)),
        )
    });
    let msg = message(&failed);
    assert!(
        msg.contains("container.mesos.image.docker.config.reference.name")
            && msg.contains("registry/nope"),
        "{msg}"
    );
    assert_no_password_in(&c);
}

#[test]
fn the_agents_docker_config_lets_image_tasks_pull_and_flags_show_only_its_path() {
    let (reg, image) = auth_registry("busybox:agent");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.json");
    std::fs::write(&file, docker_config(&reg, PASSWORD)).expect("write config");
    let path = file.display().to_string();
    let (c, mut s) = cluster(
        "auth-agent",
        &[
            "--docker-config",
            &path,
            "--insecure-registries",
            "reg.example:5000,10.9.9.9",
        ],
    );
    // (b) The task names no credentials: the agent's are used.
    run(&mut s, "agent-creds", "TASK_FINISHED", |o| {
        image_task("agent-creds", o, &image, None)
    });
    assert_eq!(stdout_of(&c, "agent-creds"), "hello from paddock\n");

    // A task's own config wins for its registry, even over working agent
    // credentials: a wrong password there is refused.
    let wrong = value_secret(&docker_config(&reg, "not-the-password"));
    let failed = run(&mut s, "task-wins", "TASK_FAILED", |o| {
        image_task("task-wins", o, &image, Some(wrong.clone()))
    });
    assert_auth_failure(&failed, &reg.addr(), "container.mesos.image.docker.config");

    // `paddock image pull` without credentials uses the agent's too.
    assert_eq!(image_pull(&c, &image), 200);

    let flags = get_json(&c.agent_url(0, "/flags")).expect("/flags");
    assert_eq!(flags["flags"]["docker_config"], path.as_str(), "{flags}");
    assert_eq!(
        flags["flags"]["insecure_registries"], "reg.example:5000,10.9.9.9",
        "{flags}"
    );
    assert!(!flags.to_string().contains(PASSWORD));
    assert_no_password_in(&c);
}

#[test]
fn a_bad_docker_config_flag_stops_the_agent_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port().to_string();
    let work = dir.path().join("work").display().to_string();
    let out = Command::new(paddock_tests::paddock_bin())
        .args([
            "agent",
            "--master",
            "127.0.0.1:1",
            "--port",
            &port,
            "--work-dir",
            &work,
            "--docker-config",
            r#"{"auths":{"r:1":{"auth":"%%%"}}}"#,
        ])
        .output()
        .expect("run paddock agent");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--docker-config") && err.contains("auth"),
        "{err}"
    );
}

/// Marathon: `container.docker.pullConfig` names one of the app's
/// `secrets`, whose `source` is a file under the agent's --secrets-dir.
#[test]
fn a_marathon_app_with_a_pull_config_secret_runs() {
    let (reg, image) = auth_registry("busybox:marathon");
    let secrets = secrets_dir(&reg);
    let marathon_port = free_port().to_string();
    let mut c = Cluster::master(&["--marathon-port", &marathon_port]);
    let dir = secrets.path().display().to_string();
    c.add_agent(RES, &["--secrets-dir", &dir]);
    let marathon = format!("http://127.0.0.1:{marathon_port}");
    wait_for("Marathon", Duration::from_secs(30), || {
        get_json(&format!("{marathon}/v2/apps"))
    });
    let app = |id: &str, secret: &str| {
        json!({
            "id": id, "cmd": "cat /etc/hello; exec sleep 600", "instances": 1,
            "cpus": 0.2, "mem": 64,
            "secrets": {"regcreds": {"source": "/registry/creds"}},
            "container": {"type": "MESOS", "docker": {
                "image": image, "pullConfig": {"secret": secret}}}
        })
    };
    // An undefined secret is refused, naming the field.
    let r = http()
        .post(format!("{marathon}/v2/apps"))
        .json(&app("/bad-pull", "nope"))
        .send()
        .expect("POST /v2/apps");
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().unwrap_or_default();
    assert!(
        body.contains("/container/docker/pullConfig/secret")
            && body.contains("container.docker.pullConfig.secret"),
        "{body}"
    );

    let r = http()
        .post(format!("{marathon}/v2/apps"))
        .json(&app("/pulled", "regcreds"))
        .send()
        .expect("POST /v2/apps");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    let task = wait_for("the app's task to run", LAUNCH, || {
        let a = get_json(&format!("{marathon}/v2/apps/pulled"))?;
        let t = a["app"]["tasks"].as_array()?.first()?.clone();
        (t["state"] == "TASK_RUNNING").then_some(t)
    });
    let id = task["id"].as_str().expect("task id").to_string();
    wait_for("the app's output", LAUNCH, || {
        (stdout_of(&c, &id) == "hello from paddock\n").then_some(())
    });
    let _ = http()
        .delete(format!("{marathon}/v2/apps/pulled?force=true"))
        .send();
    assert_no_password_in(&c);
}

fn docker_ok() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn docker_task(id: &str, offer: &Value, image: &str) -> Value {
    let mut t = command_task(id, offer, "cat /etc/hello", 0.2, 64.0);
    t["container"] = json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}});
    t
}

/// Removes the image from dockerd when the test ends.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .output();
    }
}

/// (e) dockerd pulls with the agent's --docker-config (dockerd treats
/// 127.0.0.0/8 as insecure by default), and without it is refused.
#[test]
fn a_docker_task_pulls_from_the_auth_registry_with_the_agents_credentials() {
    assert!(
        docker_ok(),
        "dockerd is not answering: bash scripts/start-services.sh"
    );
    let (reg, image) = auth_registry("busybox:docker");
    let _cleanup = DockerImage(image.clone());
    {
        let (c, mut s) = cluster("docker-anon", &["--containerizers", "mesos,docker"]);
        let failed = run(&mut s, "docker-anon", "TASK_FAILED", |o| {
            docker_task("docker-anon", o, &image)
        });
        assert_auth_failure(&failed, &reg.addr(), "without credentials");
        assert_no_password_in(&c);
    }
    let config = docker_config(&reg, PASSWORD);
    let (c, mut s) = cluster(
        "docker-auth",
        &[
            "--containerizers",
            "mesos,docker",
            "--docker-config",
            &config,
        ],
    );
    run(&mut s, "docker-auth", "TASK_FINISHED", |o| {
        docker_task("docker-auth", o, &image)
    });
    assert_eq!(stdout_of(&c, "docker-auth"), "hello from paddock\n");
    let flags = get_json(&c.agent_url(0, "/flags")).expect("/flags");
    assert_eq!(flags["flags"]["docker_config"], "inline JSON", "{flags}");
    assert_no_password_in(&c);
}
