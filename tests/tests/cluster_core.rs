//! The cluster core end to end: a real master and real agents (separate
//! processes), real command tasks under real cgroups, driven through the
//! Mesos v1 scheduler API.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{get_json, http, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";

fn framework(name: &str) -> Value {
    json!({"user": "root", "name": name, "failover_timeout": 0})
}

fn sandbox_file(c: &Cluster, agent: usize, task: &str, file: &str) -> String {
    c.sandbox_file(agent, task, file).unwrap_or_default()
}

#[test]
fn agent_registers_and_operator_endpoints_answer() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &["--attributes", "rack:r1;zone:a"]);
    let slaves = get_json(&c.url("/master/slaves")).unwrap();
    let s = &slaves["slaves"][0];
    assert_eq!(s["resources"]["cpus"], 2.0);
    assert_eq!(s["resources"]["mem"], 1024.0);
    assert_eq!(s["resources"]["ports"], "[31000-31009]");
    assert_eq!(s["attributes"]["rack"], "r1");
    assert_eq!(s["attributes"]["zone"], "a");
    assert!(s["pid"]
        .as_str()
        .unwrap()
        .starts_with("slave(1)@127.0.0.1:"));

    let version = get_json(&c.url("/version")).unwrap();
    let v = version["version"].as_str().unwrap();
    assert!(
        v.split('.').all(|p| p.parse::<u32>().is_ok()),
        "numeric version: {v}"
    );

    for path in ["/master/state", "/state", "/state.json"] {
        let state = get_json(&c.url(path)).unwrap_or_else(|| panic!("{path}"));
        assert_eq!(state["slaves"].as_array().unwrap().len(), 1, "{path}");
        assert_eq!(state["activated_slaves"], 1);
        assert!(state["leader"].as_str().unwrap().starts_with("master@"));
    }
    let metrics = get_json(&c.url("/metrics/snapshot")).unwrap();
    assert_eq!(metrics["master/slaves_active"], 1.0);
    assert_eq!(metrics["master/cpus_total"], 2.0);
    let health = http().get(c.url("/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let prom = http()
        .get(c.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(prom.contains("paddock_master_slaves_active 1"), "{prom}");

    // A restarted agent keeps its id.
    let before = s["id"].clone();
    c.agents[0].proc.kill9();
    c.restart_agent(0);
    let again = wait_for("agent re-registration", Duration::from_secs(20), || {
        let slaves = get_json(&c.url("/master/slaves"))?;
        let s = slaves["slaves"][0].clone();
        (s["active"] == true && s.get("reregistered_time").is_some()).then_some(s)
    });
    assert_eq!(again["id"], before);
}

#[test]
fn command_task_runs_with_environment_sandbox_and_acknowledged_updates() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("env"));
    let offer = s.next_offer(Duration::from_secs(10));
    assert_eq!(offer["hostname"], "agent0.test");
    let mut task = command_task(
        "env-task",
        &offer,
        "echo \"port=$PORT0 port=$PORT ports=$PORTS id=$MESOS_TASK_ID host=$HOST\"; test -d \"$MESOS_SANDBOX\" && echo sandbox-ok; echo ns-pid=$$ procs=$(ls /proc | grep -c '^[0-9]'); echo oops >&2",
        0.5,
        64.0,
    );
    task["resources"].as_array_mut().unwrap().push(json!({
        "name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31002, "end": 31003}]}
    }));
    assert_eq!(s.launch(&offer, vec![task]), 202);
    let running = s.wait_state("env-task", "TASK_RUNNING", Duration::from_secs(20));
    assert!(running.get("uuid").is_some());
    assert_eq!(
        running["agent_id"], offer["agent_id"],
        "updates with a uuid carry agent_id"
    );
    let finished = s.wait_state("env-task", "TASK_FINISHED", Duration::from_secs(20));
    assert_eq!(finished["agent_id"], offer["agent_id"]);
    let out = sandbox_file(&c, 0, "env-task", "stdout");
    assert!(
        out.contains("port=31002 port=31002 ports=31002,31003 id=env-task host=agent0.test"),
        "stdout: {out}"
    );
    assert!(out.contains("sandbox-ok"), "stdout: {out}");
    // Its own PID namespace: init is 1, the shell 2, and /proc shows only them
    // (plus ls and grep).
    assert!(out.contains("ns-pid=2 "), "stdout: {out}");
    let procs: usize = out
        .split("procs=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(999);
    assert!(procs <= 6, "a private /proc: saw {procs} processes\n{out}");
    assert!(sandbox_file(&c, 0, "env-task", "stderr").contains("oops"));
    // The acknowledged terminal task moves to completed; resources are free.
    wait_for("task to complete", Duration::from_secs(10), || {
        let tasks = get_json(&c.url("/master/tasks"))?;
        let t = tasks["tasks"]
            .as_array()?
            .iter()
            .find(|t| t["id"] == "env-task")?
            .clone();
        (t["state"] == "TASK_FINISHED").then_some(())
    });
    wait_for("resources to be released", Duration::from_secs(10), || {
        let slaves = get_json(&c.url("/master/slaves"))?;
        (slaves["slaves"][0]["used_resources"]["cpus"] == 0.0).then_some(())
    });
}

#[test]
fn failing_command_reports_exit_status() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("fail"));
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![command_task("exit3", &offer, "exit 3", 0.1, 32.0)],
    );
    let failed = s.wait_state("exit3", "TASK_FAILED", Duration::from_secs(20));
    assert!(
        failed["message"].as_str().unwrap_or("").contains('3'),
        "{failed}"
    );
}

#[test]
fn memory_hog_is_oom_killed_and_reported_as_memory_limitation() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("oom"));
    let offer = s.next_offer(Duration::from_secs(10));
    // tail keeps everything it reads from newline-free /dev/zero in memory.
    s.launch(
        &offer,
        vec![command_task(
            "hog",
            &offer,
            "head -c 400m /dev/zero | tail",
            0.5,
            32.0,
        )],
    );
    let failed = s.wait_state("hog", "TASK_FAILED", Duration::from_secs(60));
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{failed}"
    );
}

#[test]
fn cpu_limited_busy_loop_is_throttled_and_stats_use_mesos_names() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("cpu"));
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![command_task(
            "spin",
            &offer,
            "while :; do :; done",
            0.2,
            64.0,
        )],
    );
    s.wait_state("spin", "TASK_RUNNING", Duration::from_secs(20));
    let stats = wait_for(
        "throttling in /monitor/statistics",
        Duration::from_secs(20),
        || {
            let all = get_json(&c.agent_url(0, "/monitor/statistics"))?;
            let st = all
                .as_array()?
                .iter()
                .find(|e| e["executor_id"] == "spin")?["statistics"]
                .clone();
            (st["cpus_nr_throttled"].as_f64()? > 0.0
                && st["cpus_throttled_time_secs"].as_f64()? > 0.0)
                .then_some(st)
        },
    );
    let limit = stats["cpus_limit"].as_f64().unwrap();
    assert!(limit > 0.19 && limit < 0.4, "cpus_limit {limit}");
    assert!(stats["mem_limit_bytes"].as_f64().unwrap() >= 64.0 * 1048576.0);
    assert!(stats.get("cpus_user_time_secs").is_some() && stats.get("mem_rss_bytes").is_some());
    assert_eq!(
        s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "spin"}}})),
        202
    );
    s.wait_state("spin", "TASK_KILLED", Duration::from_secs(20));
}

#[test]
fn kill_sends_sigterm_first_then_sigkill_after_grace() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("kill"));
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![
            command_task(
                "polite",
                &offer,
                "trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done",
                0.1,
                32.0,
            ),
            command_task(
                "stubborn",
                &offer,
                "trap '' TERM; while :; do sleep 0.1; done",
                0.1,
                32.0,
            ),
        ],
    );
    s.wait_state("polite", "TASK_RUNNING", Duration::from_secs(20));
    s.wait_state("stubborn", "TASK_RUNNING", Duration::from_secs(20));
    wait_for("the trap to be set", Duration::from_secs(10), || {
        sandbox_file(&c, 0, "polite", "stdout")
            .contains("started")
            .then_some(())
    });
    s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "polite"}}}));
    s.wait_state("polite", "TASK_KILLED", Duration::from_secs(20));
    assert!(sandbox_file(&c, 0, "polite", "stdout").contains("got-term"));
    let t0 = std::time::Instant::now();
    s.call(
        json!({"type": "KILL", "kill": {"task_id": {"value": "stubborn"},
        "kill_policy": {"grace_period": {"nanoseconds": 1_000_000_000i64}}}}),
    );
    s.wait_state("stubborn", "TASK_KILLED", Duration::from_secs(20));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "SIGKILL came only after the grace period"
    );
}

#[test]
fn a_kill_right_after_task_running_is_not_lost() {
    // TASK_RUNNING leaves as soon as init is spawned, before init can take
    // signals; a SIGTERM then must not be dropped (which would leave the
    // task running until the grace period's SIGKILL).
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework("quick"));
    let offer = s.next_offer(Duration::from_secs(10));
    let ids = ["quick-0", "quick-1", "quick-2"];
    let tasks = ids
        .iter()
        .map(|id| command_task(id, &offer, "exec sleep 600", 0.1, 32.0))
        .collect();
    s.launch(&offer, tasks);
    for id in ids {
        s.wait_state(id, "TASK_RUNNING", Duration::from_secs(20));
        s.call(json!({"type": "KILL", "kill": {"task_id": {"value": id},
            "kill_policy": {"grace_period": {"nanoseconds": 60_000_000_000i64}}}}));
    }
    for id in ids {
        // Well inside the 60 s grace period: the SIGTERM did it.
        s.wait_state(id, "TASK_KILLED", Duration::from_secs(20));
    }
}

#[test]
fn task_keeps_running_across_an_agent_restart() {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        framework("survivor"),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![command_task(
            "long",
            &offer,
            "echo alive; exec sleep 1000",
            0.1,
            32.0,
        )],
    );
    s.wait_state("long", "TASK_RUNNING", Duration::from_secs(20));
    let agent_id = offer["agent_id"]["value"].as_str().unwrap().to_string();

    let procs_with_sleep = || {
        std::fs::read_dir("/proc").ok().map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default()
                        == "sleep\u{0}1000\u{0}"
                })
                .count()
        })
    };
    // TASK_RUNNING is sent once the task is spawned; `exec sleep` follows.
    wait_for("the task to exec sleep", Duration::from_secs(10), || {
        (procs_with_sleep().unwrap_or(0) >= 1).then_some(())
    });
    c.agents[0].proc.kill9();
    // The task is still there while no agent runs.
    assert!(
        procs_with_sleep().unwrap_or(0) >= 1,
        "task died with its agent"
    );
    c.restart_agent(0);
    let again = c.wait_agent_active(0);
    assert_eq!(again["id"], agent_id.as_str());
    // Still running, and still killable through the restarted agent.
    let tasks = get_json(&c.url("/master/tasks")).unwrap();
    let t = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "long")
        .unwrap()
        .clone();
    assert_eq!(t["state"], "TASK_RUNNING");
    s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "long"}}}));
    s.wait_state("long", "TASK_KILLED", Duration::from_secs(30));
}

#[test]
fn dead_agent_is_declared_unreachable_and_its_tasks_lost() {
    let mut c = Cluster::master(&["--agent-timeout", "2s"]);
    c.add_agent(RES, &[]);
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        framework("partition"),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![command_task("orphan", &offer, "exec sleep 1000", 0.1, 32.0)],
    );
    s.wait_state("orphan", "TASK_RUNNING", Duration::from_secs(20));
    let t0 = std::time::Instant::now();
    c.agents[0].proc.kill9();
    let lost = s.wait_state("orphan", "TASK_LOST", Duration::from_secs(15));
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert_eq!(lost["reason"], "REASON_AGENT_REMOVED");
    let slaves = get_json(&c.url("/master/slaves")).unwrap();
    assert_eq!(slaves["slaves"].as_array().unwrap().len(), 0);
    let metrics = get_json(&c.url("/metrics/snapshot")).unwrap();
    assert_eq!(metrics["master/slaves_unreachable"], 1.0);
}
