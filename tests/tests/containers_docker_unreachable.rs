//! An agent started with `--containerizers mesos,docker` whose engine does
//! not answer refuses DOCKER tasks with a message naming where it looked.
//! Its own test binary: it sets `DOCKER_HOST` for the agent it starts, which
//! must not leak into other tests' agents.

use std::time::Duration;

use paddock_tests::scheduler::Scheduler;
use paddock_tests::{wait_for, Cluster};
use serde_json::json;

#[test]
fn an_unreachable_engine_fails_docker_tasks_naming_where_it_looked() {
    let mut c = Cluster::master(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = format!("unix://{}/none.sock", dir.path().display());
    // The only test in this process: the agent inherits this.
    std::env::set_var("DOCKER_HOST", &sock);
    c.add_agent(
        "cpus:1;mem:256;disk:100;ports:[31000-31001]",
        &["--containerizers", "mesos,docker"],
    );
    // The agent logs the error once its first probe fails.
    wait_for(
        "the agent to log the unreachable engine",
        Duration::from_secs(20),
        || {
            c.agents[0]
                .proc
                .log_text()
                .contains("Docker is not reachable at")
                .then_some(())
        },
    );
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": "docker-down", "failover_timeout": 0}),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![json!({
            "name": "down", "task_id": {"value": "down"}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
            "container": {"type": "DOCKER", "docker": {"image": "paddock-test/busybox:latest"}},
            "command": {"value": "true"}
        })],
    );
    let failed = s.wait_state("down", "TASK_FAILED", Duration::from_secs(30));
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{failed}"
    );
    let msg = failed["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("Docker is not reachable at") && msg.contains("none.sock"),
        "{failed}"
    );
}
