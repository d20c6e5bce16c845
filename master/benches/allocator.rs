//! One allocation pass over a simulated cluster.
//!
//! `cargo bench -p paddock-master --bench allocator`
//!
//! The baseline, measured in the same run, is a naive pass that for every
//! agent scans every framework for the lowest dominant share (what Mesos
//! did before its 1.7 sorter fixes); the ratio is what the heaps buy.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use paddock_master::allocator::{Allocator, AllocatorConfig};
use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::{RangeSet, Resources};

fn agent_resources() -> Resources {
    Resources::new()
        .with_scalar("cpus", 32.0)
        .with_scalar("mem", 262_144.0)
        .with_scalar("disk", 1_000_000.0)
        .with_ranges("ports", RangeSet::new([(31000, 32000)]))
}

fn cluster(agents: usize, frameworks: usize) -> Allocator {
    let mut a = Allocator::new(AllocatorConfig::default());
    for i in 0..agents {
        a.add_agent(AgentId::new(format!("agent-{i:05}")), agent_resources());
    }
    for i in 0..frameworks {
        a.add_framework(
            FrameworkId::new(format!("fw-{i:04}")),
            format!("role-{}", i % 10),
        );
    }
    a
}

/// The naive pass, with the same resource books as the real allocator:
/// per agent, a linear scan of every framework's dominant share.
fn naive_pass(agents: usize, frameworks: usize) -> usize {
    let total = agent_resources();
    let mut cluster = Resources::new();
    for _ in 0..agents {
        cluster.add(&total.scalars_only());
    }
    let mut alloc: Vec<Resources> = vec![Resources::new(); frameworks];
    let share = |a: &Resources| {
        cluster
            .scalars()
            .map(|(n, t)| a.scalar(n) / t)
            .fold(0.0f64, f64::max)
    };
    let mut grants = 0;
    for _ in 0..agents {
        let free = total.clone();
        let mut best = 0;
        let mut best_share = f64::MAX;
        for (i, a) in alloc.iter().enumerate() {
            let s = share(a);
            if s < best_share {
                best_share = s;
                best = i;
            }
        }
        alloc[best].add(&free.scalars_only());
        grants += 1;
    }
    black_box(grants)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocation_pass");
    g.sample_size(10);
    for (agents, frameworks) in [(1_000, 100), (10_000, 1_000)] {
        let prepared = cluster(agents, frameworks);
        g.bench_function(
            format!("paddock_{agents}_agents_{frameworks}_frameworks"),
            |b| {
                b.iter_batched(
                    || prepared.clone(),
                    |mut a| black_box(a.allocate(Instant::now()).len()),
                    BatchSize::LargeInput,
                )
            },
        );
        g.bench_function(
            format!("naive_{agents}_agents_{frameworks}_frameworks"),
            |b| b.iter(|| black_box(naive_pass(agents, frameworks))),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
