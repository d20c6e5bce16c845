//! Scheduler state-machine tests: offers, updates, health and deployments
//! driven with explicit time, no sockets.

use std::collections::BTreeMap;

use paddock_proto::mesos::{
    AgentId, FrameworkId, Offer, OfferId, TaskId, TaskInfo, TaskState, TaskStatus,
};
use paddock_proto::resources::Resources;

use super::effects::{CoreEvent, Effect, Record};
use super::instance::ReadinessResult;
use super::scheduler::{CoreConfig, CoreError, ProbeKind, Scheduler};
use super::spec::{
    HealthCheckSpec, HealthProtocol, KillSelection, PortSpec, ReadinessCheckSpec, RunSpec,
    UpgradeStrategy,
};
use super::Timestamp;
use crate::launch::constraints::Constraint;
use crate::launch::matcher::RejectReason;

fn t(s: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + s * 1000)
}

fn app(id: &str, instances: u32) -> RunSpec {
    let mut s = RunSpec::new(id, "2026-01-01T00:00:00.000Z");
    s.instances = instances;
    s.cmd = Some("sleep 1000".into());
    s.cpus = 0.1;
    s.mem = 16.0;
    s
}

fn targets(apps: &[RunSpec]) -> BTreeMap<String, RunSpec> {
    apps.iter().map(|a| (a.id.clone(), a.clone())).collect()
}

fn offer(n: u32, host: &str, res: &str) -> Offer {
    Offer {
        id: OfferId::new(format!("offer-{n}")),
        framework_id: FrameworkId::new("fw"),
        agent_id: AgentId::new(format!("agent-{host}")),
        hostname: host.into(),
        resources: Resources::parse(res)
            .unwrap_or_default()
            .to_mesos(Some("*")),
        ..Default::default()
    }
}

fn big_offer(n: u32, host: &str) -> Offer {
    offer(n, host, "cpus:4;mem:4096;disk:1000;ports:[31000-31100]")
}

fn status(task: &str, state: TaskState) -> TaskStatus {
    TaskStatus {
        task_id: TaskId::new(task),
        state,
        ..Default::default()
    }
}

fn launched(effects: &[Effect]) -> Vec<TaskInfo> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { tasks, .. } => Some(tasks.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn killed(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Kill { task_id, .. } => Some(task_id.value.clone()),
            _ => None,
        })
        .collect()
}

fn events(effects: &[Effect]) -> Vec<&CoreEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ev) => Some(ev),
            _ => None,
        })
        .collect()
}

fn deployment_succeeded(effects: &[Effect]) -> bool {
    events(effects)
        .iter()
        .any(|e| matches!(e, CoreEvent::DeploymentSuccess { .. }))
}

/// Runs every launched task to TASK_RUNNING; returns the effects.
fn run_all(s: &mut Scheduler, tasks: &[TaskInfo], now: Timestamp) -> Vec<Effect> {
    let mut out = Vec::new();
    for task in tasks {
        s.update(&status(&task.task_id.value, TaskState::TaskRunning), now);
        s.tick(now);
        out.extend(s.take_effects());
    }
    out
}

fn new_scheduler() -> Scheduler {
    let mut s = Scheduler::new(CoreConfig::default());
    s.subscribed("fw", t(0));
    s.take_effects();
    s
}

#[test]
fn a_new_app_is_launched_and_its_deployment_finishes() {
    let mut s = new_scheduler();
    let plan = s
        .deploy(targets(&[app("/web", 2)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.steps.len(), 2);
    let fx = s.take_effects();
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Revive)),
        "wants offers: {fx:?}"
    );
    assert_eq!(s.deployments().len(), 1);
    s.offers(&[big_offer(1, "h1")], t(2));
    let fx = s.take_effects();
    let tasks = launched(&fx);
    assert_eq!(tasks.len(), 2);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Suppress)),
        "nothing left to launch: {fx:?}"
    );
    // Every launched task was persisted before the launch.
    let launch_at = fx
        .iter()
        .position(|e| matches!(e, Effect::Launch { .. }))
        .unwrap_or(0);
    for task in &tasks {
        let put_at = fx.iter().position(
            |e| matches!(e, Effect::Put(Record::Instance(i)) if i.task_id == task.task_id.value),
        );
        assert!(
            put_at.is_some_and(|p| p < launch_at),
            "persisted before ACCEPT"
        );
        assert!(task.task_id.value.starts_with("web."));
    }
    let fx = run_all(&mut s, &tasks, t(3));
    assert!(deployment_succeeded(&fx));
    assert!(s.deployments().is_empty());
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::StatusUpdate { task_status, .. } if task_status == "TASK_RUNNING")));
}

#[test]
fn more_offers_than_needed_are_declined() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/one", 1)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.take_effects();
    s.offers(&[big_offer(1, "h1"), big_offer(2, "h2")], t(2));
    let fx = s.take_effects();
    assert_eq!(launched(&fx).len(), 1);
    let declined: Vec<&Effect> = fx
        .iter()
        .filter(|e| matches!(e, Effect::Decline { .. }))
        .collect();
    assert_eq!(declined.len(), 1);
    // No launches on later offers.
    s.offers(&[big_offer(3, "h3")], t(3));
    let fx = s.take_effects();
    assert!(launched(&fx).is_empty());
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Decline { offer_ids, refuse_seconds } if offer_ids.len() == 1 && *refuse_seconds >= 60.0)));
}

#[test]
fn failed_tasks_are_replaced_with_backoff_and_recorded() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/crash", 1)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(1));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(2));
    let mut st = status(&tasks[0].task_id.value, TaskState::TaskFailed);
    st.message = Some("exit 1".into());
    s.update(&st, t(3));
    let fx = s.take_effects();
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Delete(k) if k.ends_with(&tasks[0].task_id.value))));
    let a = s.app("/crash").unwrap_or_else(|| panic!("app"));
    let ltf = a
        .last_task_failure
        .clone()
        .unwrap_or_else(|| panic!("lastTaskFailure"));
    assert_eq!(ltf.state, "TASK_FAILED");
    assert_eq!(ltf.message, "exit 1");
    assert_eq!(ltf.host, "h1");
    let b = a.backoff.unwrap_or_else(|| panic!("backoff"));
    assert_eq!(b.delay_seconds, 1.0);
    // Delayed: the queue shows it, offers are not used.
    let q = s.queue(t(3));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].count, 1);
    assert!(!q[0].overdue);
    assert_eq!(q[0].time_left_seconds, 1.0);
    s.offers(&[big_offer(2, "h1")], t(3));
    assert!(launched(&s.take_effects()).is_empty());
    // After the delay, it is launched again.
    s.tick(t(5));
    s.offers(&[big_offer(3, "h1")], t(5));
    let again = launched(&s.take_effects());
    assert_eq!(again.len(), 1);
    // A second failure grows the delay.
    s.update(
        &status(&again[0].task_id.value, TaskState::TaskFailed),
        t(6),
    );
    let b2 = s
        .app("/crash")
        .and_then(|a| a.backoff)
        .unwrap_or_else(|| panic!("backoff"));
    assert!((b2.delay_seconds - 1.15).abs() < 1e-9);
    assert!(s.reset_delay("/crash", t(6)));
    assert!(s.app("/crash").is_some_and(|a| a.backoff.is_none()));
}

#[test]
fn killed_by_us_is_replaced_without_backoff() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/k", 1)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(1));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(2));
    let id = tasks[0].task_id.value.clone();
    let (killed_now, plan) = s
        .kill_tasks(std::slice::from_ref(&id), false, false, t(3))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.is_none());
    assert_eq!(killed_now.len(), 1);
    let fx = s.take_effects();
    assert_eq!(killed(&fx), vec![id.clone()]);
    // The replacement is wanted at once, not after the kill.
    assert_eq!(s.queue(t(3)).first().map(|q| q.count), Some(1));
    s.update(&status(&id, TaskState::TaskKilled), t(4));
    let a = s.app("/k").unwrap_or_else(|| panic!("app"));
    assert!(a.backoff.is_none());
    assert!(a.last_task_failure.is_none());
    assert!(matches!(
        s.kill_tasks(&["nope".into()], false, false, t(4)),
        Err(CoreError::UnknownTask(_))
    ));
}

#[test]
fn scale_down_honours_kill_selection() {
    for (selection, expect_oldest) in [
        (KillSelection::YoungestFirst, false),
        (KillSelection::OldestFirst, true),
    ] {
        let mut s = new_scheduler();
        let mut a = app("/s", 3);
        a.kill_selection = selection;
        s.deploy(targets(&[a.clone()]), false, t(1))
            .unwrap_or_else(|e| panic!("{e}"));
        s.offers(&[big_offer(1, "h1")], t(1));
        let tasks = launched(&s.take_effects());
        assert_eq!(tasks.len(), 3);
        for (i, task) in tasks.iter().enumerate() {
            s.update(
                &status(&task.task_id.value, TaskState::TaskRunning),
                t(10 + i as i64),
            );
        }
        s.tick(t(20));
        s.take_effects();
        let mut smaller = a.clone();
        smaller.instances = 1;
        smaller.version = "2026-01-02T00:00:00.000Z".into();
        s.deploy(targets(&[smaller]), false, t(21))
            .unwrap_or_else(|e| panic!("{e}"));
        let fx = s.take_effects();
        let k = killed(&fx);
        assert_eq!(k.len(), 2);
        let survivor = if expect_oldest { &tasks[2] } else { &tasks[0] };
        assert!(
            !k.contains(&survivor.task_id.value),
            "{selection:?}: killed {k:?}"
        );
        for id in &k {
            s.update(&status(id, TaskState::TaskKilled), t(22));
        }
        s.tick(t(22));
        assert!(deployment_succeeded(&s.take_effects()));
        assert_eq!(s.instances_of("/s").count(), 1);
    }
}

#[test]
fn an_unplaceable_app_shows_why_in_the_queue() {
    let mut s = new_scheduler();
    let mut huge = app("/huge", 1);
    huge.mem = 100_000.0;
    let mut picky = app("/picky", 1);
    picky.constraints =
        vec![
            Constraint::parse(&["hostname".into(), "LIKE".into(), "gpu-.*".into()])
                .unwrap_or_else(|e| panic!("{e}")),
        ];
    s.deploy(targets(&[huge, picky]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1"), big_offer(2, "h2")], t(2));
    let fx = s.take_effects();
    assert!(launched(&fx).is_empty());
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Decline { refuse_seconds, .. } if *refuse_seconds < 60.0)));
    let q = s.queue(t(2));
    let row = |id: &str| {
        q.iter()
            .find(|r| r.app_id == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} queued"))
    };
    let h = row("/huge");
    assert_eq!(h.stats.processed_offers_count, 2);
    assert_eq!(h.stats.unused_offers_count, 2);
    assert!(h.stats.last_unused_offer_at.is_some());
    let mem = h
        .stats
        .reject_summary()
        .into_iter()
        .find(|c| c.reason == RejectReason::InsufficientMemory)
        .map(|c| c.declined);
    assert_eq!(mem, Some(2));
    let p = row("/picky");
    assert_eq!(
        p.stats.last_rejections.back(),
        Some(&RejectReason::UnfulfilledConstraint)
    );
}

#[test]
fn unique_hostname_places_one_per_agent() {
    let mut s = new_scheduler();
    let mut a = app("/u", 3);
    a.constraints =
        vec![Constraint::parse(&["hostname".into(), "UNIQUE".into()])
            .unwrap_or_else(|e| panic!("{e}"))];
    a.port_definitions = vec![PortSpec::new(10000)];
    s.deploy(targets(&[a]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1"), big_offer(2, "h2")], t(2));
    let tasks = launched(&s.take_effects());
    assert_eq!(tasks.len(), 2);
    assert_ne!(tasks[0].agent_id, tasks[1].agent_id);
    s.offers(&[big_offer(3, "h1")], t(3));
    assert!(launched(&s.take_effects()).is_empty());
    s.offers(&[big_offer(4, "h3")], t(3));
    assert_eq!(launched(&s.take_effects()).len(), 1);
}

#[test]
fn locked_apps_need_force_and_force_cancels() {
    let mut s = new_scheduler();
    let first = s
        .deploy(targets(&[app("/l", 2)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut changed = app("/l", 3);
    changed.version = "v2".into();
    match s.deploy(targets(&[changed.clone()]), false, t(2)) {
        Err(CoreError::Locked { deployments }) => assert_eq!(deployments, vec![first.id.clone()]),
        other => panic!("expected a lock error, got {other:?}"),
    }
    // Another app is not locked.
    let mut both = targets(&[app("/l", 2), app("/other", 1)]);
    s.deploy(both.clone(), false, t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.deployments().len(), 2);
    s.take_effects();
    both.insert("/l".into(), changed);
    let forced = s.deploy(both, true, t(3)).unwrap_or_else(|e| panic!("{e}"));
    let fx = s.take_effects();
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::DeploymentFailed { plan, .. } if plan.id == first.id)));
    let ids: Vec<&str> = s.deployments().iter().map(|d| d.plan.id.as_str()).collect();
    assert!(ids.contains(&forced.id.as_str()));
    assert!(!ids.contains(&first.id.as_str()));
    assert_eq!(s.deployments_of("/l"), vec![forced.id.clone()]);
}

#[test]
fn cancel_rolls_back_or_just_stops() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/c", 1)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(1));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(2));
    assert!(s.deployments().is_empty());
    // Scale to 5 on a cluster with room for none: the deployment hangs.
    let mut five = app("/c", 5);
    five.version = "v2".into();
    let d = s
        .deploy(targets(&[five]), false, t(3))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.app("/c").map(|a| a.goal.instances), Some(5));
    let revert = s
        .cancel_deployment(&d.id, false, t(4))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a revert plan"));
    assert_ne!(revert.id, d.id);
    assert_eq!(s.targets().get("/c").map(|a| a.instances), Some(1));
    s.tick(t(5));
    assert!(
        s.deployments().is_empty(),
        "the revert finishes: 1 instance runs"
    );
    assert_eq!(s.app("/c").map(|a| a.goal.instances), Some(1));
    // Force: stop where it is; the target stays.
    let mut three = app("/c", 3);
    three.version = "v3".into();
    let d = s
        .deploy(targets(&[three]), false, t(6))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cancel_deployment(&d.id, true, t(7)), Ok(None));
    assert!(s.deployments().is_empty());
    assert_eq!(s.targets().get("/c").map(|a| a.instances), Some(3));
    assert!(matches!(
        s.cancel_deployment("nope", true, t(7)),
        Err(CoreError::UnknownDeployment(_))
    ));
}

fn http_check(grace: u64, max: u32) -> HealthCheckSpec {
    HealthCheckSpec {
        protocol: HealthProtocol::Http,
        grace_period_seconds: grace,
        interval_seconds: 1,
        timeout_seconds: 1,
        max_consecutive_failures: max,
        ..HealthCheckSpec::default()
    }
}

#[test]
fn unhealthy_tasks_are_killed_after_the_grace_period() {
    let mut s = new_scheduler();
    let mut a = app("/h", 1);
    a.port_definitions = vec![PortSpec::new(0)];
    a.health_checks = vec![http_check(10, 2)];
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    let id = tasks[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskRunning), t(1));
    s.take_effects();
    // The deployment waits for health.
    assert_eq!(s.deployments().len(), 1);
    let probes = s.due_probes(t(1));
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].host, "h1");
    assert_eq!(probes[0].port, Some(31000));
    assert!(
        s.due_probes(t(1)).is_empty(),
        "no second probe while one is in flight"
    );
    // Failures in the grace period are ignored.
    s.health_result(&id, 0, Err("connection refused".into()), t(2));
    s.health_result(&id, 0, Err("connection refused".into()), t(3));
    assert!(killed(&s.take_effects()).is_empty());
    assert!(s.instance(&id).is_some_and(|i| i.health[0].is_none()));
    // Healthy: the deployment finishes.
    s.health_result(&id, 0, Ok(()), t(4));
    let fx = s.take_effects();
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::HealthStatusChanged { alive: true, .. })));
    assert!(fx.iter().any(|e| matches!(e, Effect::Put(Record::Instance(i)) if i.health[0].as_ref().is_some_and(|h| h.alive()))),
        "health is persisted");
    s.tick(t(4));
    assert!(deployment_succeeded(&s.take_effects()));
    // After a success failures count at once; the second one kills.
    s.health_result(&id, 0, Err("HTTP 500".into()), t(5));
    let fx = s.take_effects();
    assert!(killed(&fx).is_empty());
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::FailedHealthCheck { .. })));
    s.health_result(&id, 0, Err("HTTP 500".into()), t(6));
    let fx = s.take_effects();
    assert_eq!(killed(&fx), vec![id.clone()]);
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::UnhealthyInstanceKill { .. })));
    // Replaced at once, and the kill counts for backoff.
    s.update(&status(&id, TaskState::TaskKilled), t(7));
    let a = s.app("/h").unwrap_or_else(|| panic!("app"));
    assert!(a.backoff.is_some(), "health kills increase the backoff");
    assert_eq!(a.wanted, 1);
}

#[test]
fn max_consecutive_failures_zero_never_kills_marathon_checks() {
    let mut s = new_scheduler();
    let mut a = app("/z", 1);
    a.port_definitions = vec![PortSpec::new(0)];
    a.health_checks = vec![http_check(0, 0)];
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let id = launched(&s.take_effects())[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskRunning), t(1));
    for k in 0..10 {
        s.health_result(&id, 0, Err("down".into()), t(2 + k));
    }
    assert!(killed(&s.take_effects()).is_empty());
    assert_eq!(
        s.instance(&id)
            .and_then(|i| i.health[0].clone())
            .map(|h| h.consecutive_failures),
        Some(10)
    );
}

#[test]
fn rolling_restart_keeps_healthy_capacity() {
    let mut s = new_scheduler();
    let mut a = app("/r", 3);
    a.port_definitions = vec![PortSpec::new(0)];
    a.health_checks = vec![http_check(0, 3)];
    a.upgrade_strategy = UpgradeStrategy {
        minimum_health_capacity: 1.0,
        maximum_over_capacity: 0.0,
    };
    s.deploy(targets(&[a.clone()]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let v1 = launched(&s.take_effects());
    for task in &v1 {
        s.update(&status(&task.task_id.value, TaskState::TaskRunning), t(1));
        s.health_result(&task.task_id.value, 0, Ok(()), t(1));
    }
    s.tick(t(1));
    assert!(s.deployments().is_empty());
    s.take_effects();
    let mut b = a.clone();
    b.cmd = Some("sleep 2000".into());
    b.version = "v2".into();
    b.config_version = "v2".into();
    let plan = s
        .deploy(targets(&[b]), false, t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan.steps[0].actions[0].kind,
        super::plan::ActionKind::RestartApplication
    );
    let healthy = |s: &Scheduler| {
        s.instances_of("/r")
            .filter(|i| i.is_active() && i.is_healthy())
            .count()
    };
    let mut now = 3;
    let mut rounds = 0;
    while !s.deployments().is_empty() {
        rounds += 1;
        assert!(rounds < 20, "the restart must finish");
        assert!(
            healthy(&s) >= 3,
            "healthy capacity dropped to {}",
            healthy(&s)
        );
        s.offers(&[big_offer(10 + now as u32, "h1")], t(now));
        let fx = s.take_effects();
        let new_tasks = launched(&fx);
        assert!(
            new_tasks.len() <= 1,
            "maxOverCapacity 0 allows one extra at a time"
        );
        assert!(s.instances_of("/r").filter(|i| i.is_active()).count() <= 4);
        for k in killed(&fx) {
            s.update(&status(&k, TaskState::TaskKilled), t(now));
        }
        for task in &new_tasks {
            s.update(&status(&task.task_id.value, TaskState::TaskRunning), t(now));
            s.tick(t(now));
            let fx = s.take_effects();
            assert!(
                killed(&fx).is_empty(),
                "no old instance dies before the new one is healthy"
            );
            s.health_result(&task.task_id.value, 0, Ok(()), t(now));
        }
        s.tick(t(now));
        let fx = s.take_effects();
        for k in killed(&fx) {
            assert!(healthy(&s) >= 3);
            s.update(&status(&k, TaskState::TaskKilled), t(now));
        }
        now += 1;
    }
    assert_eq!(s.instances_of("/r").count(), 3);
    assert!(s.instances_of("/r").all(|i| i.config_version == "v2"));
}

#[test]
fn readiness_gates_a_deployment() {
    let mut s = new_scheduler();
    let mut a = app("/ready", 1);
    a.port_definitions = vec![{
        let mut p = PortSpec::new(0);
        p.name = Some("http-api".into());
        p
    }];
    a.readiness_checks = vec![ReadinessCheckSpec::default()];
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let id = launched(&s.take_effects())[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskRunning), t(1));
    s.tick(t(1));
    assert_eq!(s.deployments().len(), 1, "running is not ready");
    let probes = s.due_probes(t(1));
    assert!(probes
        .iter()
        .any(|p| matches!(p.kind, ProbeKind::Readiness(_)) && p.port == Some(31000)));
    let not_ready = ReadinessResult {
        name: "readinessCheck".into(),
        ready: false,
        last_response: None,
    };
    s.readiness_result(&id, not_ready, t(2));
    assert_eq!(s.deployments().len(), 1);
    assert_eq!(s.readiness_of("/ready").len(), 1);
    let ready = ReadinessResult {
        name: "readinessCheck".into(),
        ready: true,
        last_response: None,
    };
    s.readiness_result(&id, ready, t(3));
    assert!(s.deployments().is_empty());
}

#[test]
fn dependencies_deploy_in_order() {
    let mut s = new_scheduler();
    let db = app("/db", 1);
    let mut web = app("/web", 1);
    web.dependencies = vec!["/db".into()];
    s.deploy(targets(&[db, web]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let first = launched(&s.take_effects());
    assert_eq!(first.len(), 1);
    assert!(
        first[0].task_id.value.starts_with("db."),
        "the dependency goes first"
    );
    s.update(
        &status(&first[0].task_id.value, TaskState::TaskRunning),
        t(1),
    );
    s.tick(t(1));
    s.take_effects();
    s.offers(&[big_offer(2, "h1")], t(2));
    let second = launched(&s.take_effects());
    assert_eq!(second.len(), 1);
    assert!(second[0].task_id.value.starts_with("web."));
}

#[test]
fn stopping_an_app_kills_its_tasks_and_forgets_it() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/gone", 2)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    s.deploy(BTreeMap::new(), false, t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    let fx = s.take_effects();
    assert_eq!(killed(&fx).len(), 2);
    for task in &tasks {
        s.update(&status(&task.task_id.value, TaskState::TaskKilled), t(3));
    }
    s.tick(t(3));
    let fx = s.take_effects();
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::AppTerminated { app_id, .. } if app_id == "/gone")));
    assert!(deployment_succeeded(&fx));
    assert!(s.app("/gone").is_none());
}

#[test]
fn reconciliation_after_subscribe() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/rec", 2)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    s.subscribed("fw", t(10));
    let fx = s.take_effects();
    let reconciles: Vec<usize> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Reconcile(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reconciles,
        vec![2, 0],
        "explicit for known tasks, then implicit"
    );
    // The master does not know one of them: it is replaced.
    s.update(
        &status(&tasks[0].task_id.value, TaskState::TaskUnknown),
        t(11),
    );
    assert_eq!(s.app("/rec").map(|a| a.wanted), Some(1));
    // A running task of ours that we do not know is killed.
    s.update(&status("rec.stray", TaskState::TaskRunning), t(11));
    assert_eq!(killed(&s.take_effects()), vec!["rec.stray".to_string()]);
    // Terminal updates for unknown tasks need nothing.
    s.update(&status("rec.old", TaskState::TaskFinished), t(11));
    let fx = s.take_effects();
    assert!(killed(&fx).is_empty());
    assert!(events(&fx).iter().any(|e| matches!(e,
        CoreEvent::UnknownInstanceTerminated { run_spec_id, condition, .. } if run_spec_id == "/rec" && condition == "Finished")));
    // Periodic implicit reconciliation.
    s.tick(t(80));
    assert!(s
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::Reconcile(l) if l.is_empty())));
}

#[test]
fn unreachable_tasks_are_replaced_at_once_by_default() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/ur", 1)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    s.update(
        &status(&tasks[0].task_id.value, TaskState::TaskUnreachable),
        t(2),
    );
    let fx = s.take_effects();
    assert_eq!(killed(&fx), vec![tasks[0].task_id.value.clone()]);
    assert!(s.instance(&tasks[0].task_id.value).is_none());
    assert_eq!(s.app("/ur").map(|a| a.wanted), Some(1));
    assert!(s
        .app("/ur")
        .and_then(|a| a.last_task_failure.clone())
        .is_some());
    assert!(
        s.app("/ur").is_some_and(|a| a.backoff.is_none()),
        "losing an agent is not the app's failure"
    );
}

#[test]
fn unreachable_strategy_waits_before_replacing() {
    let mut s = new_scheduler();
    let mut a = app("/uw", 1);
    a.unreachable_strategy = super::spec::UnreachableStrategy::Enabled {
        inactive_after_seconds: 10,
        expunge_after_seconds: 20,
    };
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    let id = tasks[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskUnreachable), t(2));
    s.tick(t(5));
    assert_eq!(
        s.app("/uw").map(|a| a.wanted),
        Some(0),
        "still within inactiveAfterSeconds"
    );
    s.tick(t(12));
    assert_eq!(
        s.app("/uw").map(|a| a.wanted),
        Some(1),
        "inactive: replaced"
    );
    s.tick(t(23));
    assert!(s.instance(&id).is_none(), "expunged");
}

#[test]
fn agent_loss_replaces_its_tasks() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/al", 1)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    s.agent_failed(&AgentId::new("agent-h1"), t(2));
    let fx = s.take_effects();
    assert!(events(&fx)
        .iter()
        .any(|e| matches!(e, CoreEvent::InstanceChanged { condition, .. } if condition == "Gone")));
    assert_eq!(s.instances_of("/al").count(), 0);
    assert_eq!(s.app("/al").map(|a| a.wanted), Some(1));
}

#[test]
fn restore_keeps_instances_health_and_deployments() {
    let mut s = Scheduler::new(CoreConfig::default());
    s.subscribed("fw", t(0));
    let mut a = app("/p", 1);
    a.port_definitions = vec![PortSpec::new(0)];
    a.health_checks = vec![http_check(0, 3)];
    s.deploy(targets(&[a.clone()]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let mut log = s.take_effects();
    let id = launched(&log)[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskRunning), t(1));
    s.health_result(&id, 0, Ok(()), t(1));
    s.tick(t(1));
    assert!(s.deployments().is_empty());
    // Replay what was persisted into a store.
    let mut store: BTreeMap<String, Record> = BTreeMap::new();
    let apply = |fx: Vec<Effect>, store: &mut BTreeMap<String, Record>| {
        for e in fx {
            match e {
                Effect::Put(r) => {
                    store.insert(r.key(), r);
                }
                Effect::Delete(k) => {
                    store.remove(&k);
                }
                _ => {}
            }
        }
    };
    log.extend(s.take_effects());
    apply(log, &mut store);
    let mut more = a.clone();
    more.instances = 3;
    more.version = "v2".into();
    s.deploy(targets(&[more.clone()]), false, t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    apply(s.take_effects(), &mut store);
    let (mut recs, mut insts, mut deps, mut fid) = (Vec::new(), Vec::new(), Vec::new(), None);
    for r in store.into_values() {
        match r {
            Record::AppRuntime(a) => recs.push(*a),
            Record::Instance(i) => insts.push(*i),
            Record::Deployment(d) => deps.push(*d),
            Record::FrameworkId(f) => fid = Some(f),
        }
    }
    let mut r = Scheduler::restore(
        CoreConfig::default(),
        fid,
        targets(&[more]),
        recs,
        insts,
        deps,
    );
    assert_eq!(r.framework_id(), Some("fw"));
    let inst = r
        .instance(&id)
        .unwrap_or_else(|| panic!("instance survives"));
    assert!(inst.is_healthy(), "health is not reset to unknown");
    assert_eq!(r.deployments().len(), 1);
    r.subscribed("fw", t(3));
    let fx = r.take_effects();
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Reconcile(l) if l.len() == 1)));
    // It continues where it was: two more instances.
    r.offers(&[big_offer(5, "h2")], t(3));
    assert_eq!(
        launched(&r.take_effects()).len(),
        2,
        "no double launch of the first"
    );
}

#[test]
fn kill_and_scale_is_a_deployment() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/ks", 3)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let tasks = launched(&s.take_effects());
    run_all(&mut s, &tasks, t(1));
    let victim = tasks[1].task_id.value.clone();
    let (_, plan) = s
        .kill_tasks(std::slice::from_ref(&victim), true, false, t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = plan.unwrap_or_else(|| panic!("a deployment"));
    assert_eq!(plan.steps[0].actions[0].sentenced, vec![victim.clone()]);
    assert_eq!(killed(&s.take_effects()), vec![victim.clone()]);
    s.update(&status(&victim, TaskState::TaskKilled), t(3));
    s.tick(t(3));
    assert!(deployment_succeeded(&s.take_effects()));
    assert_eq!(s.targets().get("/ks").map(|a| a.instances), Some(2));
    assert_eq!(s.instances_of("/ks").count(), 2);
}

#[test]
fn suppress_and_revive_follow_demand() {
    let mut s = new_scheduler();
    s.tick(t(0));
    let fx = s.take_effects();
    assert!(!fx.iter().any(|e| matches!(e, Effect::Revive)));
    s.deploy(targets(&[app("/d", 1)]), false, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.take_effects().iter().any(|e| matches!(e, Effect::Revive)));
    s.offers(&[big_offer(1, "h1")], t(1));
    let fx = s.take_effects();
    assert!(fx.iter().any(|e| matches!(e, Effect::Suppress)));
    let tasks = launched(&fx);
    s.update(
        &status(&tasks[0].task_id.value, TaskState::TaskFailed),
        t(2),
    );
    // Delayed by backoff: no revive until the delay is over.
    assert!(!s.take_effects().iter().any(|e| matches!(e, Effect::Revive)));
    s.tick(t(4));
    assert!(s.take_effects().iter().any(|e| matches!(e, Effect::Revive)));
}

#[test]
fn staged_tasks_that_never_start_are_killed() {
    let mut s = new_scheduler();
    s.deploy(targets(&[app("/st", 1)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let id = launched(&s.take_effects())[0].task_id.value.clone();
    s.tick(t(100));
    assert!(killed(&s.take_effects()).is_empty());
    s.tick(t(301));
    assert_eq!(killed(&s.take_effects()), vec![id.clone()]);
    // Kills are retried until confirmed.
    s.tick(t(320));
    assert!(killed(&s.take_effects()).is_empty());
    s.tick(t(332));
    assert_eq!(killed(&s.take_effects()), vec![id]);
}

mod rolling_property {
    //! A simulated rolling upgrade through the whole scheduler: random
    //! offers, starts, health results and kill confirmations. Whatever
    //! happens, the kills the scheduler itself issues never take healthy
    //! capacity below min(minHealthy, what was healthy before them), and the
    //! upgrade completes once the cluster cooperates.
    use super::*;
    use crate::core::restart::bounds;
    use proptest::prelude::*;

    fn healthy(s: &Scheduler) -> usize {
        s.instances_of("/roll")
            .filter(|i| i.is_active() && i.is_healthy())
            .count()
    }

    /// Applies one simulated event; returns the effects it caused.
    fn apply(
        s: &mut Scheduler,
        kind: u8,
        pick: usize,
        now: Timestamp,
        offer_no: &mut u32,
    ) -> Vec<Effect> {
        let ids: Vec<(String, TaskState, bool)> = s
            .instances_of("/roll")
            .map(|i| (i.task_id.clone(), i.state, i.killing_since.is_some()))
            .collect();
        let nth = |f: &dyn Fn(&(String, TaskState, bool)) -> bool| {
            let c: Vec<&(String, TaskState, bool)> = ids.iter().filter(|x| f(x)).collect();
            (!c.is_empty()).then(|| c[pick % c.len()].0.clone())
        };
        match kind {
            0 => {
                *offer_no += 1;
                s.offers(&[big_offer(*offer_no, "h1")], now);
            }
            1 => {
                if let Some(id) = nth(&|x| x.1 == TaskState::TaskStaging) {
                    s.update(&status(&id, TaskState::TaskRunning), now);
                }
            }
            2 => {
                if let Some(id) = nth(&|x| x.1 == TaskState::TaskRunning && !x.2) {
                    s.health_result(&id, 0, Ok(()), now);
                }
            }
            3 => {
                if let Some(id) = nth(&|x| x.1 == TaskState::TaskRunning && !x.2) {
                    s.health_result(&id, 0, Err("down".into()), now);
                }
            }
            4 => {
                if let Some(id) = nth(&|x| x.2) {
                    s.update(&status(&id, TaskState::TaskKilled), now);
                }
            }
            _ => s.tick(now),
        }
        s.take_effects()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn scheduler_kills_never_break_minimum_health_capacity(
            instances in 1u32..6,
            mhc in 0.0f64..=1.0,
            moc in 0.0f64..=1.0,
            events in proptest::collection::vec((0u8..6, 0usize..8), 1..120),
        ) {
            let mut s = new_scheduler();
            let mut a = app("/roll", instances);
            a.port_definitions = vec![PortSpec::new(0)];
            a.health_checks = vec![http_check(0, 3)];
            a.upgrade_strategy = UpgradeStrategy { minimum_health_capacity: mhc, maximum_over_capacity: moc };
            s.deploy(targets(&[a.clone()]), false, t(0)).unwrap_or_else(|e| panic!("{e}"));
            s.offers(&[big_offer(0, "h1")], t(0));
            for task in launched(&s.take_effects()) {
                s.update(&status(&task.task_id.value, TaskState::TaskRunning), t(0));
                s.health_result(&task.task_id.value, 0, Ok(()), t(0));
            }
            s.tick(t(0));
            s.take_effects();
            prop_assert!(s.deployments().is_empty());
            let mut b = a.clone();
            b.cmd = Some("sleep 2".into());
            b.version = "v2".into();
            b.config_version = "v2".into();
            let before_deploy: std::collections::BTreeSet<String> = s
                .instances_of("/roll")
                .filter(|i| i.is_active() && i.is_healthy())
                .map(|i| i.task_id.clone())
                .collect();
            s.deploy(targets(&[b]), false, t(1)).unwrap_or_else(|e| panic!("{e}"));
            let (min_healthy, _) = bounds(instances, &a.upgrade_strategy);
            // Healthy-and-active before a step, by task id.
            let healthy_ids = |s: &Scheduler| -> std::collections::BTreeSet<String> {
                s.instances_of("/roll")
                    .filter(|i| i.is_active() && i.is_healthy())
                    .map(|i| i.task_id.clone())
                    .collect()
            };
            let check = |s: &Scheduler, fx: &[Effect], before: &std::collections::BTreeSet<String>| -> Result<(), TestCaseError> {
                let after = healthy(s);
                // Instances healthy before this step that its own kills took away
                // (a health failure or a lost task is not the scheduler's doing).
                let lost = killed(fx)
                    .iter()
                    .filter(|k| before.contains(*k))
                    .filter(|k| s.instance(k).is_some_and(|i| i.is_running() && i.is_healthy()))
                    .count();
                if lost > 0 {
                    let before_kills = after + lost;
                    prop_assert!(after >= (min_healthy as usize).min(before_kills),
                        "kills left {after} healthy; min {min_healthy}, before {before_kills}");
                }
                Ok(())
            };
            let fx = s.take_effects();
            check(&s, &fx, &before_deploy)?;
            let mut offer_no = 1;
            let mut now = 2;
            for (kind, pick) in events {
                let before = healthy_ids(&s);
                let fx = apply(&mut s, kind, pick, t(now), &mut offer_no);
                check(&s, &fx, &before)?;
                now += 1;
            }
            // Now the cluster cooperates: everything starts, passes, and kills complete.
            for round in 0..200 {
                let settled = s.instances_of("/roll").filter(|i| i.is_active() && i.is_healthy()).count()
                    == instances as usize
                    && s.instances_of("/roll").count() == instances as usize;
                if s.deployments().is_empty() && settled {
                    break;
                }
                if round == 199 {
                    let dump: Vec<String> = s
                        .instances_of("/roll")
                        .map(|i| format!("{} {:?} killing={} healthy={} health={:?}", i.config_version, i.state, i.killing_since.is_some(), i.is_healthy(), i.health))
                        .collect();
                    let app = s.app("/roll").map(|a| (a.wanted, a.backoff, a.goal.instances));
                    prop_assert!(false, "the upgrade did not finish: {dump:#?} app={app:?} deployments={:?}",
                        s.deployments().iter().map(|d| (d.current_step, d.step_applied)).collect::<Vec<_>>());
                }
                for kind in [0u8, 1, 2, 4, 5] {
                    // More picks than instances, so each one is reached.
                    for pick in 0..16 {
                        let before = healthy_ids(&s);
                        let fx = apply(&mut s, kind, pick, t(now), &mut offer_no);
                        check(&s, &fx, &before)?;
                    }
                }
                now += 1;
            }
            prop_assert_eq!(s.instances_of("/roll").filter(|i| i.is_active()).count(), instances as usize);
            prop_assert!(s.instances_of("/roll").all(|i| i.config_version == "v2"));
        }
    }
}

#[test]
fn max_instances_per_offer_spreads_launches() {
    let mut s = Scheduler::new(CoreConfig {
        max_instances_per_offer: Some(2),
        ..CoreConfig::default()
    });
    s.subscribed("fw", t(0));
    s.deploy(targets(&[app("/many", 5)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.take_effects();
    s.offers(&[big_offer(1, "h1"), big_offer(2, "h2")], t(1));
    assert_eq!(launched(&s.take_effects()).len(), 4);
    s.offers(&[big_offer(3, "h1")], t(2));
    assert_eq!(launched(&s.take_effects()).len(), 1);
}

fn declined_with(effects: &[Effect]) -> Vec<(String, f64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Decline {
                offer_ids,
                refuse_seconds,
            } => Some(
                offer_ids
                    .iter()
                    .map(|o| (o.value.clone(), *refuse_seconds))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A scheduler with `cap` (None = no cap) that was just told to run
/// `/many` at `instances`.
fn deployed(cap: Option<usize>, instances: u32) -> Scheduler {
    let mut s = Scheduler::new(CoreConfig {
        max_staging_per_agent: cap,
        paced_refuse_seconds: 0.5,
        ..CoreConfig::default()
    });
    s.subscribed("fw", t(0));
    s.deploy(targets(&[app("/many", instances)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.take_effects();
    s
}

#[test]
fn launches_per_agent_are_capped_until_tasks_run() {
    let mut s = deployed(Some(3), 10);
    s.offers(&[big_offer(1, "h1")], t(1));
    let fx = s.take_effects();
    let first = launched(&fx);
    assert_eq!(first.len(), 3, "only the cap is launched on one agent");
    // What the offer has left comes back after the short filter, not 5 s.
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Launch { refuse_seconds: Some(r), .. } if *r == 0.5
    )));
    // Nothing ran yet: the agent's next offer is declined with the short filter.
    s.offers(&[big_offer(2, "h1")], t(2));
    let fx = s.take_effects();
    assert!(launched(&fx).is_empty());
    assert_eq!(declined_with(&fx), vec![("offer-2".to_string(), 0.5)]);
    // Two report running: two more may go.
    for task in first.iter().take(2) {
        s.update(&status(&task.task_id.value, TaskState::TaskRunning), t(3));
    }
    s.take_effects();
    s.offers(&[big_offer(3, "h1")], t(4));
    assert_eq!(launched(&s.take_effects()).len(), 2);
}

#[test]
fn a_paced_agent_at_half_the_cap_revives_offers_once() {
    let mut s = deployed(Some(4), 10);
    s.offers(&[big_offer(1, "h1")], t(1));
    let first = launched(&s.take_effects());
    assert_eq!(first.len(), 4);
    s.offers(&[big_offer(2, "h1")], t(2));
    s.take_effects();
    let revives = |fx: &[Effect]| fx.iter().filter(|e| matches!(e, Effect::Revive)).count();
    // 3 staging: above half the cap, no revive yet.
    s.update(
        &status(&first[0].task_id.value, TaskState::TaskRunning),
        t(3),
    );
    assert_eq!(revives(&s.take_effects()), 0);
    // 2 staging: half the cap, one revive; later updates add none.
    s.update(
        &status(&first[1].task_id.value, TaskState::TaskRunning),
        t(3),
    );
    assert_eq!(revives(&s.take_effects()), 1);
    s.update(
        &status(&first[2].task_id.value, TaskState::TaskRunning),
        t(3),
    );
    assert_eq!(revives(&s.take_effects()), 0);
}

#[test]
fn the_staging_cap_is_per_agent() {
    let mut s = deployed(Some(3), 10);
    s.offers(&[big_offer(1, "h1"), big_offer(2, "h2")], t(1));
    let tasks = launched(&s.take_effects());
    let on = |agent: &str| {
        tasks
            .iter()
            .filter(|t| t.agent_id.value == format!("agent-{agent}"))
            .count()
    };
    assert_eq!((on("h1"), on("h2")), (3, 3));
    // A staging task that fails frees its slot (and its replacement may take it).
    s.update(
        &status(&tasks[0].task_id.value, TaskState::TaskFailed),
        t(2),
    );
    s.take_effects();
    assert_eq!(s.app("/many").map(|a| a.wanted), Some(5));
}

#[test]
fn without_a_cap_one_offer_takes_everything_that_fits() {
    let mut s = deployed(None, 30);
    s.offers(&[big_offer(1, "h1")], t(1));
    let fx = s.take_effects();
    assert_eq!(launched(&fx).len(), 30);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Launch {
            refuse_seconds: None,
            ..
        }
    )));
}

#[test]
fn probes_keep_their_interval_when_ticks_run_late() {
    let mut s = new_scheduler();
    let mut a = app("/h", 1);
    a.port_definitions = vec![PortSpec::new(0)];
    let mut check = http_check(0, 3);
    check.interval_seconds = 10;
    a.health_checks = vec![check];
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let id = launched(&s.take_effects())[0].task_id.value.clone();
    s.update(&status(&id, TaskState::TaskRunning), t(0));
    let ms = |m: i64| Timestamp::from_millis(1_700_000_000_000 + m);
    // Ticks every second, each read 0–2 ms late (as a busy runtime does):
    // probes must still come every 10 s, at ticks 0, 10, …, 100. Scheduling
    // from the tick's own time made a tick read 1 ms earlier than the last
    // one miss its probe, which then ran a whole tick later, every round.
    let mut probes = 0;
    for tick in 0..=100 {
        let now = ms(tick * 1000 + tick % 3);
        for p in s.due_probes(now) {
            probes += 1;
            s.health_result(&p.task_id, 0, Ok(()), now);
        }
    }
    assert_eq!(probes, 11);
}

#[test]
fn ended_instances_leave_no_probe_slots() {
    let mut s = new_scheduler();
    let mut a = app("/h", 2);
    a.port_definitions = vec![PortSpec::new(0)];
    a.health_checks = vec![http_check(0, 3)];
    s.deploy(targets(&[a]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    s.offers(&[big_offer(1, "h1")], t(0));
    let ids: Vec<String> = launched(&s.take_effects())
        .iter()
        .map(|t| t.task_id.value.clone())
        .collect();
    for id in &ids {
        s.update(&status(id, TaskState::TaskRunning), t(1));
    }
    assert_eq!(s.due_probes(t(1)).len(), 2);
    // One ends with its probe in flight; the other's slot is untouched.
    s.update(&status(&ids[0], TaskState::TaskFailed), t(2));
    s.health_result(&ids[1], 0, Ok(()), t(2));
    let next = s.due_probes(t(3));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].task_id, ids[1]);
}

#[test]
fn deployments_of_follows_deployments_starting_and_ending() {
    let mut s = new_scheduler();
    let plan = s
        .deploy(targets(&[app("/x", 1), app("/y", 1)]), false, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.deployments_of("/x"), vec![plan.id.clone()]);
    assert_eq!(s.deployments_of("/y"), vec![plan.id.clone()]);
    assert!(s.deployments_of("/z").is_empty());
    assert!(plan.affects("/x") && !plan.affects("/z"));
    s.offers(&[big_offer(1, "h1")], t(1));
    for task in launched(&s.take_effects()) {
        s.update(&status(&task.task_id.value, TaskState::TaskRunning), t(2));
    }
    s.tick(t(3));
    assert!(deployment_succeeded(&s.take_effects()));
    assert!(s.deployments_of("/x").is_empty());
    assert!(s.deployments_of("/y").is_empty());
}
