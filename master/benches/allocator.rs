//! One allocation pass over a simulated cluster, from a fresh state (the
//! clone it starts from is made and dropped outside the timing).
//!
//! `cargo bench -p paddock-master --bench allocator`
//!
//! Every agent has 32 cpus, 256 GiB mem, 1 TB disk and ports
//! [31000-32000]; frameworks are spread over 10 roles. The baseline,
//! measured in the same run, is `Allocator::allocate_linear`: the same pass
//! on the same books, but for every agent it recomputes every framework's
//! share and scans them all, O(agents × frameworks), roughly what Mesos did
//! before its 1.7 sorter fixes. After criterion's figures the bench prints
//! the ratio of the two from interleaved runs, which survives a noisy
//! machine better than two separate measurements.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use paddock_master::allocator::{Allocator, AllocatorConfig};
use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::{RangeSet, Resources};

const POINTS: [(usize, usize, &str); 2] = [
    (1_000, 100, "1k_agents_100"),
    (10_000, 1_000, "10k_agents_1k"),
];

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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator");
    g.sample_size(10);
    for (agents, frameworks, name) in POINTS {
        let prepared = cluster(agents, frameworks);
        assert_eq!(prepared.clone().allocate(Instant::now()).len(), agents);
        g.bench_function(format!("allocate_{name}_frameworks"), |b| {
            b.iter_batched_ref(
                || prepared.clone(),
                |a| black_box(a.allocate(Instant::now()).len()),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("naive_linear_{name}_frameworks"), |b| {
            b.iter_batched_ref(
                || prepared.clone(),
                |a| black_box(a.allocate_linear(Instant::now()).len()),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    report_ratios();
}

/// Median time of one pass of `f` over a fresh clone of `prepared`.
fn one_pass(prepared: &Allocator, f: fn(&mut Allocator, Instant) -> usize) -> Duration {
    let mut a = prepared.clone();
    let start = Instant::now();
    black_box(f(&mut a, start));
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Interleaves the two passes and prints medians and their ratio.
fn report_ratios() {
    for (agents, frameworks, name) in POINTS {
        let prepared = cluster(agents, frameworks);
        let (mut heap, mut linear) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            heap.push(one_pass(&prepared, |a, now| a.allocate(now).len()));
            linear.push(one_pass(&prepared, |a, now| a.allocate_linear(now).len()));
        }
        let (h, l) = (median(heap), median(linear));
        println!(
            "ratio {name}_frameworks: allocate {:.2} ms, naive linear {:.2} ms, {:.1}x (medians of 7 interleaved passes)",
            h.as_secs_f64() * 1e3,
            l.as_secs_f64() * 1e3,
            l.as_secs_f64() / h.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
