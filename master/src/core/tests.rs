//! Unit tests of the master's state machine: no sockets, time passed in.

use std::time::{Duration, Instant};

use paddock_proto::internal::master_message::Kind;
use paddock_proto::mesos::{
    AgentId, CommandInfo, FrameworkId, FrameworkInfo, OfferId, Resource, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use paddock_proto::resources::{RangeSet, Resources};
use paddock_proto::scheduler::{Accept, Event, Launch, Operation};

use super::agents::AgentRegistration;
use super::{Effect, Master};
use crate::config::MasterConfig;

fn master() -> Master {
    Master::new("M".into(), MasterConfig::default())
}

fn add_agent(m: &mut Master, now: Instant) -> AgentId {
    let (id, _) = m.register_agent(
        AgentRegistration {
            agent_id: String::new(),
            hostname: "h1".into(),
            ip: "127.0.0.1".into(),
            port: 5051,
            resources: Resources::new()
                .with_scalar("cpus", 2.0)
                .with_scalar("mem", 1024.0)
                .with_ranges("ports", RangeSet::new([(31000, 31009)])),
            attributes: vec![],
            tasks: vec![],
            version: "test".into(),
        },
        now,
    );
    id
}

fn subscribe(m: &mut Master, name: &str, caps: &[&str], now: Instant) -> FrameworkId {
    let info = FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        capabilities: caps
            .iter()
            .map(|c| paddock_proto::mesos::Capability {
                kind: c.to_string(),
            })
            .collect(),
        ..Default::default()
    };
    m.subscribe(info, None, &[], format!("stream-{name}"), now)
        .unwrap()
}

fn offers_for(effects: &[Effect], fw: &FrameworkId) -> Vec<paddock_proto::mesos::Offer> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToFramework(f, Event::Offers { offers }) if f == fw => {
                Some(offers.offers.clone())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

fn updates_for(effects: &[Effect], fw: &FrameworkId) -> Vec<TaskStatus> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToFramework(f, Event::Update { update }) if f == fw => {
                Some(update.status.clone())
            }
            _ => None,
        })
        .collect()
}

fn task(id: &str, cpus: f64, mem: f64) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id),
        resources: Resources::new()
            .with_scalar("cpus", cpus)
            .with_scalar("mem", mem)
            .to_mesos(None),
        command: Some(CommandInfo {
            value: Some("sleep 10".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn launch(offer: &OfferId, tasks: Vec<TaskInfo>) -> Accept {
    Accept {
        offer_ids: vec![offer.clone()],
        operations: vec![Operation {
            kind: "LAUNCH".into(),
            launch: Some(Launch { task_infos: tasks }),
            id: None,
        }],
        filters: None,
    }
}

fn first_offer(m: &mut Master, fw: &FrameworkId, now: Instant) -> paddock_proto::mesos::Offer {
    m.allocate(now);
    let effects = m.drain();
    offers_for(&effects, fw)
        .into_iter()
        .next()
        .expect("an offer")
}

#[test]
fn offer_carries_agent_hostname_resources_and_attributes() {
    let now = Instant::now();
    let mut m = master();
    let agent = add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    assert_eq!(offer.agent_id, agent);
    assert_eq!(offer.hostname, "h1");
    let res = Resources::from_mesos(&offer.resources).unwrap();
    assert_eq!(res.scalar("cpus"), 2.0);
    assert_eq!(res.range_set("ports").unwrap().count(), 10);
}

#[test]
fn accept_launches_and_sends_run_task_to_agent() {
    let now = Instant::now();
    let mut m = master();
    let agent = add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(&fw, launch(&offer.id, vec![task("t1", 1.0, 128.0)]), now);
    let effects = m.drain();
    let run = effects.iter().any(|e| matches!(e, Effect::ToAgent(a, msg) if a == &agent && matches!(msg.kind, Some(Kind::RunTask(_)))));
    assert!(run, "RunTask sent: {effects:?}");
    assert_eq!(m.tasks[&TaskId::new("t1")].state, TaskState::TaskStaging);
    m.allocator.check_invariants().unwrap();
    // The unused remainder is filtered for the default 5s, not re-offered at once.
    m.allocate(now);
    assert!(offers_for(&m.drain(), &fw).is_empty());
    m.allocate(now + Duration::from_secs(6));
    let again = offers_for(&m.drain(), &fw);
    assert_eq!(
        Resources::from_mesos(&again[0].resources)
            .unwrap()
            .scalar("cpus"),
        1.0
    );
}

#[test]
fn launch_that_does_not_fit_is_task_error_naming_the_resource() {
    let now = Instant::now();
    let mut m = master();
    add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(&fw, launch(&offer.id, vec![task("big", 8.0, 128.0)]), now);
    let ups = updates_for(&m.drain(), &fw);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::TaskError);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_TASK_INVALID"));
    assert!(
        ups[0].message.as_deref().unwrap().contains("cpus"),
        "{:?}",
        ups[0].message
    );
    assert!(m.tasks.is_empty());
    m.allocator.check_invariants().unwrap();
}

#[test]
fn unknown_or_reused_offer_drops_tasks_with_invalid_offers() {
    let now = Instant::now();
    let mut m = master();
    add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(&fw, launch(&offer.id, vec![task("a", 0.5, 64.0)]), now);
    m.drain();
    // The same offer again: it is gone.
    m.accept(&fw, launch(&offer.id, vec![task("b", 0.5, 64.0)]), now);
    let ups = updates_for(&m.drain(), &fw);
    assert_eq!(ups[0].state, TaskState::TaskLost);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_INVALID_OFFERS"));
    // Partition-aware frameworks get TASK_DROPPED.
    let fw2 = subscribe(&mut m, "g", &["PARTITION_AWARE"], now);
    m.accept(
        &fw2,
        launch(&OfferId::new("nope"), vec![task("c", 0.5, 64.0)]),
        now,
    );
    let ups = updates_for(&m.drain(), &fw2);
    assert_eq!(ups[0].state, TaskState::TaskDropped);
}

#[test]
fn duplicate_task_id_is_rejected() {
    let now = Instant::now();
    let mut m = master();
    add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(
        &fw,
        launch(
            &offer.id,
            vec![task("dup", 0.5, 64.0), task("dup", 0.5, 64.0)],
        ),
        now,
    );
    let effects = m.drain();
    let ups = updates_for(&effects, &fw);
    assert_eq!(ups.len(), 1);
    assert!(ups[0]
        .message
        .as_deref()
        .unwrap()
        .contains("already in use"));
    assert_eq!(m.tasks.len(), 1);
}

#[test]
fn terminal_update_frees_resources_and_ack_archives() {
    let now = Instant::now();
    let mut m = master();
    let agent = add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(&fw, launch(&offer.id, vec![task("t", 2.0, 1024.0)]), now);
    m.drain();
    let status = TaskStatus {
        task_id: TaskId::new("t"),
        state: TaskState::TaskFinished,
        uuid: Some("dXVpZA==".into()),
        ..Default::default()
    };
    m.status_update(&fw, &agent, status);
    let ups = updates_for(&m.drain(), &fw);
    assert_eq!(
        ups[0].agent_id.as_ref(),
        Some(&agent),
        "updates with uuid carry agent_id"
    );
    assert_eq!(m.allocator.available(&agent).scalar("cpus"), 2.0);
    m.acknowledge(&fw, &agent, &TaskId::new("t"), "dXVpZA==");
    assert!(m.tasks.is_empty());
    assert_eq!(m.completed_tasks.len(), 1);
}

#[test]
fn silent_agent_becomes_unreachable_and_tasks_are_lost_or_unreachable() {
    let now = Instant::now();
    let mut m = master();
    let agent = add_agent(&mut m, now);
    let plain = subscribe(&mut m, "plain", &[], now);
    let offer = first_offer(&mut m, &plain, now);
    m.accept(&plain, launch(&offer.id, vec![task("p", 0.5, 64.0)]), now);
    m.drain();
    m.tick(now + Duration::from_secs(5));
    assert!(m.agents[&agent].reachable, "not yet");
    m.tick(now + Duration::from_secs(11));
    assert!(!m.agents[&agent].reachable);
    let ups = updates_for(&m.drain(), &plain);
    assert_eq!(ups[0].state, TaskState::TaskLost);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_AGENT_REMOVED"));
    // Heartbeats keep an agent alive.
    let agent2 = add_agent(&mut m, now);
    for s in 1..30 {
        let t = now + Duration::from_secs(s);
        let session = m.agents[&agent2].session;
        m.agent_heartbeat(&agent2, session, t);
        m.tick(t);
    }
    assert!(m.agents[&agent2].reachable);
}

#[test]
fn unknown_task_kill_is_answered_with_task_lost() {
    let now = Instant::now();
    let mut m = master();
    let fw = subscribe(&mut m, "f", &[], now);
    m.kill(&fw, &TaskId::new("ghost"), None);
    let ups = updates_for(&m.drain(), &fw);
    assert_eq!(ups[0].state, TaskState::TaskLost);
    assert!(
        ups[0].uuid.is_none(),
        "master-generated updates carry no uuid"
    );
}

#[test]
fn offers_are_rescinded_after_the_offer_timeout() {
    let now = Instant::now();
    let mut m = master();
    add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.tick(now + Duration::from_secs(61));
    let effects = m.drain();
    assert!(effects.iter().any(|e| matches!(e, Effect::ToFramework(_, Event::Rescind { rescind }) if rescind.offer_id == offer.id)));
    assert!(m.offers.is_empty());
    m.allocator.check_invariants().unwrap();
}

#[test]
fn teardown_kills_tasks_on_agents() {
    let now = Instant::now();
    let mut m = master();
    let agent = add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    m.accept(&fw, launch(&offer.id, vec![task("t", 0.5, 64.0)]), now);
    m.drain();
    m.remove_framework(&fw, now);
    let effects = m.drain();
    assert!(effects.iter().any(|e| matches!(e, Effect::ToAgent(a, msg) if a == &agent && matches!(msg.kind, Some(Kind::ShutdownFramework(_))))));
    assert_eq!(m.allocator.available(&agent).scalar("cpus"), 2.0);
    // A torn-down framework cannot come back under the same id.
    let info = FrameworkInfo {
        name: "f".into(),
        ..Default::default()
    };
    assert!(m.subscribe(info, Some(fw), &[], "s2".into(), now).is_err());
}

#[test]
fn agent_reregistration_adopts_running_tasks() {
    let now = Instant::now();
    let mut m = master();
    let fw = FrameworkId::new("fw-from-before");
    let mut t = task("survivor", 1.0, 128.0);
    t.agent_id = AgentId::new("A-S7");
    reregister(&mut m, vec![(fw.clone(), t, TaskState::TaskRunning)], now);
    let id = AgentId::new("A-S7");
    assert!(m.agents.contains_key(&id));
    assert_eq!(
        m.tasks[&TaskId::new("survivor")].state,
        TaskState::TaskRunning
    );
    assert_eq!(m.allocator.available(&id).scalar("cpus"), 1.0);
    assert!(m.frameworks[&fw].recovered);
    let _ = Resource::default();
}

#[test]
fn after_a_restart_reconciliation_waits_for_agents_to_re_register() {
    let now = Instant::now();
    let mut m = master();
    m.start_recovery_window(now, Duration::from_secs(10));
    // The framework fails over to the new master before its agent is back.
    let fw = failed_over_framework(&mut m, now);
    let ask = |id: &str| paddock_proto::scheduler::ReconcileTask {
        task_id: TaskId::new(id),
        agent_id: None,
    };
    m.reconcile(&fw, &[ask("survivor"), ask("gone")], now);
    assert!(
        updates_for(&m.drain(), &fw).is_empty(),
        "no answer while agents may still re-register"
    );

    // The agent comes back with one of the tasks: that one is answered.
    let mut t = task("survivor", 1.0, 128.0);
    t.agent_id = AgentId::new("A-S7");
    reregister(
        &mut m,
        vec![(fw.clone(), t, TaskState::TaskRunning)],
        now + Duration::from_secs(1),
    );
    m.drain();
    m.tick(now + Duration::from_secs(2));
    let answered = updates_for(&m.drain(), &fw);
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].task_id.value, "survivor");
    assert_eq!(answered[0].state, TaskState::TaskRunning);

    // When the window closes, the task nobody reported is lost.
    m.tick(now + Duration::from_secs(11));
    let answered = updates_for(&m.drain(), &fw);
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].task_id.value, "gone");
    assert_eq!(answered[0].state, TaskState::TaskLost);

    // Outside the window, an unknown task is answered at once.
    m.reconcile(&fw, &[ask("other")], now + Duration::from_secs(12));
    assert_eq!(updates_for(&m.drain(), &fw).len(), 1);
}

fn reregister(m: &mut Master, tasks: Vec<(FrameworkId, TaskInfo, TaskState)>, now: Instant) {
    m.register_agent(
        AgentRegistration {
            agent_id: "A-S7".into(),
            hostname: "h".into(),
            ip: "127.0.0.1".into(),
            port: 5051,
            resources: Resources::new()
                .with_scalar("cpus", 2.0)
                .with_scalar("mem", 1024.0),
            attributes: vec![],
            tasks,
            version: "test".into(),
        },
        now,
    );
}

#[test]
fn a_task_that_ended_while_the_agent_was_away_frees_its_resources() {
    let now = Instant::now();
    let mut m = master();
    let fw = FrameworkId::new("fw-from-before");
    let mut t = task("t", 1.0, 128.0);
    t.agent_id = AgentId::new("A-S7");
    reregister(
        &mut m,
        vec![(fw.clone(), t.clone(), TaskState::TaskRunning)],
        now,
    );
    let agent = AgentId::new("A-S7");
    assert_eq!(m.allocator.available(&agent).scalar("cpus"), 1.0);
    // The agent comes back again; the task finished meanwhile and its
    // update is not acknowledged yet.
    reregister(&mut m, vec![(fw, t, TaskState::TaskFinished)], now);
    assert_eq!(m.tasks[&TaskId::new("t")].state, TaskState::TaskFinished);
    assert_eq!(m.allocator.available(&agent).scalar("cpus"), 2.0);
    m.allocator.check_invariants().unwrap();
}

#[test]
fn reconciliation_after_a_restart_sees_tasks_that_ended_unacknowledged() {
    let now = Instant::now();
    let mut m = master();
    m.start_recovery_window(now, Duration::from_secs(10));
    let fw = failed_over_framework(&mut m, now);
    // Only the id is left of a task whose container is gone.
    let t = TaskInfo {
        task_id: TaskId::new("done"),
        agent_id: AgentId::new("A-S7"),
        ..Default::default()
    };
    reregister(&mut m, vec![(fw.clone(), t, TaskState::TaskFinished)], now);
    m.drain();
    let ask = paddock_proto::scheduler::ReconcileTask {
        task_id: TaskId::new("done"),
        agent_id: None,
    };
    m.reconcile(&fw, &[ask], now + Duration::from_secs(1));
    let answered = updates_for(&m.drain(), &fw);
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].state, TaskState::TaskFinished);
    assert_eq!(
        m.allocator.available(&AgentId::new("A-S7")).scalar("cpus"),
        2.0
    );
}

/// A framework that was subscribed before the master restarted comes back.
fn failed_over_framework(m: &mut Master, now: Instant) -> FrameworkId {
    let id = FrameworkId::new("fw-from-before");
    let info = FrameworkInfo {
        user: "root".into(),
        name: "fw".into(),
        id: Some(id.clone()),
        ..Default::default()
    };
    let fw = m.subscribe(info, Some(id), &[], "s".into(), now).unwrap();
    m.drain();
    fw
}

#[test]
fn an_image_task_without_a_shell_may_leave_its_command_empty() {
    let now = Instant::now();
    let mut m = master();
    add_agent(&mut m, now);
    let fw = subscribe(&mut m, "f", &[], now);
    let offer = first_offer(&mut m, &fw, now);
    let bare = |id: &str, container: Option<serde_json::Value>| {
        let mut t = task(id, 0.1, 32.0);
        t.command = Some(CommandInfo {
            shell: Some(false),
            ..Default::default()
        });
        t.container = container;
        t
    };
    let image = serde_json::json!({"type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1"}}}});
    let docker = serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox:1"}});
    m.accept(
        &fw,
        launch(
            &offer.id,
            vec![
                bare("mesos-image", Some(image)),
                bare("docker-image", Some(docker)),
                bare("no-image", None),
            ],
        ),
        now,
    );
    let ups = updates_for(&m.drain(), &fw);
    // Only the one with nothing to run is refused.
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(ups[0].task_id.value, "no-image");
    assert_eq!(ups[0].state, TaskState::TaskError);
    assert!(m.tasks.contains_key(&TaskId::new("mesos-image")));
    assert!(m.tasks.contains_key(&TaskId::new("docker-image")));
}
