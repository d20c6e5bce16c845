//! `paddock image list|pull|rm|gc|import` against a real agent (with its
//! master), with images built from Debian's busybox-static: imports land
//! and list, a running task's image survives gc and cannot be removed,
//! bad references are one-line errors (4xx with the field from the
//! agent), and arbitrary bytes posted to the import endpoint never leave
//! anything half-imported.
//!
//! Needs root, cgroups and busybox-static.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use paddock_images::testing::{busybox_image, layer_tar, Entry, TestImage};
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{http, run_cli, wait_for, Cluster};
use proptest::prelude::*;
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";

fn cluster() -> (Cluster, String) {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let agent = format!("127.0.0.1:{}", c.agents[0].port);
    (c, agent)
}

/// `paddock image ARGS… --agent AGENT`.
fn image_cli(agent: &str, args: &[&str]) -> Output {
    let mut argv = vec!["image"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--agent", agent]);
    run_cli(&argv, &[])
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The one-line error of a failed command.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("paddock: "), "{err}");
    err
}

fn references(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["reference"].as_str().map(str::to_string))
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// A small image of its own (shares busybox's nothing).
fn other_image() -> TestImage {
    TestImage::new(vec![layer_tar(&[
        Entry::dir("etc"),
        Entry::file("etc/other", "other\n"),
    ])])
}

const BUSYBOX: &str = "paddock.test/busybox:cli";
const OTHER: &str = "paddock.test/other:1";

#[test]
fn import_list_gc_and_rm_through_the_cli() {
    let (c, agent) = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let bb = busybox_image().unwrap_or_else(|e| panic!("{e}"));
    let oci = write(tmp.path(), "bb.tar", &bb.oci_archive(BUSYBOX));
    let save = write(
        tmp.path(),
        "other.tar",
        &other_image().docker_save_archive(&[OTHER]),
    );

    // Import: the table line names the image; JSON for the second.
    let out = image_cli(&agent, &["import", &oci]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("imported {BUSYBOX} (sha256:")),
        "{text}"
    );
    let imported = ok_json(&image_cli(&agent, &["import", &save, "--json"]));
    assert_eq!(references(&imported), vec![OTHER]);

    // List, as JSON and as a table.
    let list = ok_json(&image_cli(&agent, &["list", "--json"]));
    assert_eq!(references(&list), vec![BUSYBOX, OTHER]);
    let busybox = &list[0];
    assert_eq!(busybox["layers"], 2);
    assert!(busybox["size"].as_u64().unwrap() > 100_000, "{busybox}");
    assert!(busybox["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(busybox["last_used"].is_null());
    let table = String::from_utf8_lossy(&image_cli(&agent, &["list"]).stdout).to_string();
    assert!(table.starts_with("REFERENCE"), "{table}");
    assert!(
        table.contains(BUSYBOX) && table.contains("never"),
        "{table}"
    );

    // Bad references: one-line errors, 4xx naming the field underneath.
    let err = one_line_error(&image_cli(&agent, &["rm", "Bad Ref"]));
    assert!(err.contains("invalid image reference"), "{err}");
    let err = one_line_error(&image_cli(&agent, &["rm", "paddock.test/nosuch:1"]));
    assert!(err.contains("is not in the store"), "{err}");
    let r = http()
        .delete(format!("http://{agent}/images/paddock.test/nosuch:1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().unwrap()["field"], "reference");
    let r = http()
        .post(format!("http://{agent}/images/pull"))
        .json(&json!({"image": "x", "username": "u"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "password");
    let err = one_line_error(&image_cli(&agent, &["pull", "127.0.0.1:1/nosuch:1"]));
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let broken = write(tmp.path(), "broken.tar", b"this is no tarball");
    let err = one_line_error(&image_cli(&agent, &["import", &broken]));
    assert!(err.contains(&format!("corrupt archive {broken}")), "{err}");
    let list = ok_json(&image_cli(&agent, &["list", "--json"]));
    assert_eq!(references(&list), vec![BUSYBOX, OTHER]);

    // A task runs from busybox: gc keeps it (and drops the unused image),
    // rm refuses it.
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": "image-cli", "failover_timeout": 0}),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    let mut task = command_task("uses-bb", &offer, "/bin/sleep 600", 0.2, 32.0);
    task["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": BUSYBOX}}}
    });
    s.launch(&offer, vec![task]);
    s.wait_state("uses-bb", "TASK_RUNNING", Duration::from_secs(90));

    let list = ok_json(&image_cli(&agent, &["list", "--json"]));
    assert_eq!(list[0]["used_by"], json!(["uses-bb"]), "{list}");
    assert!(list[0]["last_used"].is_number(), "{list}");

    let gc = ok_json(&image_cli(&agent, &["gc", "--json"]));
    assert_eq!(gc["images_removed"], json!([OTHER]), "{gc}");
    assert_eq!(gc["kept_in_use"], json!([BUSYBOX]), "{gc}");
    assert_eq!(gc["layers_removed"], 1, "{gc}");
    let list = ok_json(&image_cli(&agent, &["list", "--json"]));
    assert_eq!(references(&list), vec![BUSYBOX]);
    let layers = c.agents[0].work_dir.join("images/layers");
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 2);

    let err = one_line_error(&image_cli(&agent, &["rm", BUSYBOX]));
    assert!(err.contains("used by live task(s) uses-bb"), "{err}");

    // Once the task is gone, rm and gc free everything.
    s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "uses-bb"}}}));
    s.wait_state("uses-bb", "TASK_KILLED", Duration::from_secs(30));
    wait_for("the container to go", Duration::from_secs(30), || {
        let list = ok_json(&image_cli(&agent, &["list", "--json"]));
        (list[0]["used_by"] == json!([])).then_some(())
    });
    let out = image_cli(&agent, &["rm", BUSYBOX]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("removed {BUSYBOX}\n")
    );
    let out = image_cli(&agent, &["gc"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("removed 0 images, 2 layers"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 0);
    assert!(ok_json(&image_cli(&agent, &["list", "--json"]))
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn an_unreachable_agent_is_a_one_line_error() {
    let port = paddock_tests::free_port();
    let err = one_line_error(&image_cli(&format!("127.0.0.1:{port}"), &["list"]));
    assert_eq!(
        err.trim_end(),
        format!("paddock: cannot reach agent at 127.0.0.1:{port}: connection refused")
    );
}

/// Bytes for the import endpoint: garbage, or a real archive cut short or
/// with a byte changed.
fn archive_bytes() -> impl Strategy<Value = Vec<u8>> {
    let real = other_image().oci_archive("paddock.test/fuzz:1");
    let n = real.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        (0..n).prop_map({
            let real = real.clone();
            move |cut| real[..cut].to_vec()
        }),
        (0..n, any::<u8>()).prop_map(move |(i, b)| {
            let mut v = real.clone();
            v[i] = if v[i] == b { b.wrapping_add(1) } else { b };
            v
        }),
    ]
}

#[test]
fn arbitrary_bytes_to_the_import_endpoint_leave_nothing_half_imported() {
    let (c, agent) = cluster();
    let store = c.agents[0].work_dir.join("images");
    let client = http();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    runner
        .run(&archive_bytes(), |bytes| {
            let r = client
                .post(format!("http://{agent}/images/import"))
                .body(bytes)
                .send()
                .expect("the agent answers");
            let status = r.status().as_u16();
            let body: Value = r.json().expect("a JSON answer");
            if status == 200 {
                // A byte change that still makes a valid archive (e.g. in
                // tar padding): then it is whole, and removed again.
                for img in references(&body["images"]) {
                    let d = client
                        .delete(format!("http://{agent}/images/{img}"))
                        .send()
                        .unwrap();
                    prop_assert_eq!(d.status().as_u16(), 200);
                }
                let gc = client
                    .post(format!("http://{agent}/images/gc"))
                    .send()
                    .unwrap();
                prop_assert_eq!(gc.status().as_u16(), 200);
            } else {
                prop_assert!((400..500).contains(&status), "{} {}", status, body);
                prop_assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
                prop_assert_eq!(&body["field"], "body");
            }
            let count = |d: &str| std::fs::read_dir(store.join(d)).unwrap().count();
            prop_assert_eq!(count("images"), 0);
            prop_assert_eq!(count("layers"), 0);
            prop_assert_eq!(count("blobs/sha256"), 0);
            prop_assert_eq!(count("tmp"), 0, "staging left behind");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    // The agent is still fine.
    let r = client.get(format!("http://{agent}/images")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn pull_from_a_local_registry_with_credentials_and_rm_by_digest() {
    use paddock_images::testing::LocalRegistry;
    let (_c, agent) = cluster();
    let reg = LocalRegistry::start_with_basic_auth("ops", "s3cret")
        .unwrap_or_else(|e| panic!("local registry: {e}"));
    let image = reg
        .push_image(&other_image(), "team/other:2")
        .unwrap_or_else(|e| panic!("push: {e}"));

    // No or wrong credentials: a one-line error naming the registry.
    let err = one_line_error(&image_cli(&agent, &["pull", &image]));
    assert!(err.contains("refused authentication"), "{err}");
    let err = one_line_error(&image_cli(
        &agent,
        &["pull", &image, "--username", "ops", "--password", "wrong"],
    ));
    assert!(err.contains(&reg.addr()), "{err}");
    let r = http()
        .post(format!("http://{agent}/images/pull"))
        .json(&json!({"image": image, "username": "ops", "password": "wrong"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>().unwrap()["field"], "credentials");

    // The password from the environment, as scripts pass it.
    let mut argv = vec!["image", "pull", &image, "--username", "ops", "--json"];
    argv.extend_from_slice(&["--agent", &agent]);
    let pulled = ok_json(&run_cli(
        &argv,
        &[("PADDOCK_REGISTRY_PASSWORD", "s3cret".to_string())],
    ));
    assert_eq!(pulled["reference"], image.as_str());
    let digest = pulled["digest"].as_str().unwrap().to_string();
    let list = ok_json(&image_cli(&agent, &["list", "--json"]));
    assert_eq!(references(&list), vec![image.clone()]);

    // rm by manifest digest.
    let removed = ok_json(&image_cli(&agent, &["rm", &digest, "--json"]));
    assert_eq!(removed[0]["reference"], image.as_str());
    assert!(ok_json(&image_cli(&agent, &["list", "--json"]))
        .as_array()
        .unwrap()
        .is_empty());
}
