//! The scheduling core with simulated agents: placing and starting 1,000
//! instances (one app scaled 0 → 1,000, and 1,000 apps × 1), and 1,000
//! health-check results. No sockets: the core's own cost.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use paddock_marathon::core::effects::Effect;
use paddock_marathon::core::spec::{HealthCheckSpec, PortSpec, RunSpec};
use paddock_marathon::core::{CoreConfig, Scheduler, Timestamp};
use paddock_proto::mesos::{AgentId, FrameworkId, Offer, OfferId, TaskId, TaskState, TaskStatus};
use paddock_proto::resources::Resources;

const AGENTS: usize = 100;

fn offers(round: usize) -> Vec<Offer> {
    let res = Resources::parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
        .unwrap_or_default()
        .to_mesos(Some("*"));
    (0..AGENTS)
        .map(|a| Offer {
            id: OfferId::new(format!("o{round}-{a}")),
            framework_id: FrameworkId::new("fw"),
            agent_id: AgentId::new(format!("agent{a}")),
            hostname: format!("agent{a}.sim"),
            resources: res.clone(),
            ..Default::default()
        })
        .collect()
}

fn app(id: &str, instances: u32, checks: bool) -> RunSpec {
    let mut s = RunSpec::new(id, "2026-01-01T00:00:00.000Z");
    s.instances = instances;
    s.cmd = Some("sleep 3600".into());
    s.cpus = 0.01;
    s.mem = 16.0;
    s.port_definitions = vec![PortSpec::new(0)];
    if checks {
        s.health_checks = vec![HealthCheckSpec::default()];
    }
    s
}

/// Deploys, places on simulated offers until nothing waits, and runs every
/// task until the deployment is done. Returns the number of tasks launched.
fn place_and_start(targets: BTreeMap<String, RunSpec>) -> usize {
    let now = Timestamp::from_millis(1_700_000_000_000);
    let mut s = Scheduler::new(CoreConfig::default());
    s.subscribed("fw", now);
    let _ = s.deploy(targets, false, now);
    let mut launched = Vec::new();
    for round in 0..20 {
        s.offers(&offers(round), now);
        for e in s.take_effects() {
            if let Effect::Launch { tasks, .. } = e {
                launched.extend(tasks.into_iter().map(|t| t.task_id.value));
            }
        }
        if s.queue(now).is_empty() {
            break;
        }
    }
    for id in &launched {
        s.update(
            &TaskStatus {
                task_id: TaskId::new(id.clone()),
                state: TaskState::TaskRunning,
                ..Default::default()
            },
            now,
        );
        s.take_effects();
    }
    s.tick(now);
    assert!(s.deployments().is_empty(), "everything runs");
    launched.len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduling");
    g.sample_size(10);
    g.bench_function("one app scaled 0 to 1000 on 100 agents", |b| {
        b.iter(|| {
            let t: BTreeMap<String, RunSpec> =
                [("/big".to_string(), app("/big", 1000, false))].into();
            assert_eq!(place_and_start(t), 1000);
        })
    });
    g.bench_function("1000 apps x 1 instance on 100 agents", |b| {
        b.iter(|| {
            let t: BTreeMap<String, RunSpec> = (0..1000)
                .map(|i| {
                    let id = format!("/apps/a{i}");
                    (id.clone(), app(&id, 1, false))
                })
                .collect();
            assert_eq!(place_and_start(t), 1000);
        })
    });
    g.bench_function("1000 health results", |b| {
        b.iter_batched(
            || {
                let now = Timestamp::from_millis(1_700_000_000_000);
                let mut s = Scheduler::new(CoreConfig::default());
                s.subscribed("fw", now);
                let _ = s.deploy(
                    [("/hc".to_string(), app("/hc", 1000, true))].into(),
                    false,
                    now,
                );
                s.offers(&offers(0), now);
                let ids: Vec<String> = s
                    .take_effects()
                    .into_iter()
                    .filter_map(|e| match e {
                        Effect::Launch { tasks, .. } => Some(tasks),
                        _ => None,
                    })
                    .flatten()
                    .map(|t| t.task_id.value)
                    .collect();
                for id in &ids {
                    s.update(
                        &TaskStatus {
                            task_id: TaskId::new(id.clone()),
                            state: TaskState::TaskRunning,
                            ..Default::default()
                        },
                        now,
                    );
                }
                s.take_effects();
                let probes = s.due_probes(now);
                assert_eq!(probes.len(), 1000);
                (s, ids)
            },
            |(mut s, ids)| {
                let now = Timestamp::from_millis(1_700_000_001_000);
                for id in &ids {
                    s.health_result(id, 0, Ok(()), now);
                }
                s.take_effects().len()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
