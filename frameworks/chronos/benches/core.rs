//! The scheduler core at scale: a tick that takes 1,000 due cron slots out
//! of 10,000 jobs, and the next-wake computation the timer does after
//! every event. Run with `cargo bench -p paddock-chronos`.

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_chronos::core::Core;
use paddock_chronos::model::Job;
use paddock_chronos::schedule::{to_millis, Schedule};
use paddock_chronos::validate::{validate, Endpoint};

const NOW: &str = "2026-01-15T12:00:30Z";

fn core_with(jobs: usize, every_minute: usize) -> (Core, i64) {
    let now = to_millis(NOW.parse().unwrap());
    let mut core = Core::new();
    for i in 0..jobs {
        let mut job = Job::named(&format!("job-{i:05}"));
        job.command = "true".into();
        job.schedule = Some(if i < every_minute {
            "* * * * *".into()
        } else {
            format!("{} {} * * *", i % 60, (i / 60) % 24)
        });
        job.schedule_time_zone = "Europe/Berlin".into();
        validate(&mut job, Endpoint::Iso8601, &core, NOW.parse().unwrap()).unwrap();
        core.put_job(job, &[], now);
    }
    let _ = core.take_changes();
    (core, now)
}

fn bench(c: &mut Criterion) {
    let (core, now) = core_with(10_000, 1_000);
    let minute = now + 30_000; // 12:01:00
    c.bench_function("next_wake over 10k jobs", |b| {
        b.iter(|| core.next_wake(now))
    });
    c.bench_function("tick taking 1k due slots of 10k jobs", |b| {
        b.iter_batched(
            || core_with(10_000, 1_000).0,
            |mut core| {
                core.tick(minute);
                let keys = core.launchable(minute);
                assert!(keys.len() >= 1_000);
                core.take_changes()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("parse a cron schedule", |b| {
        b.iter(|| Schedule::parse("30 2 * * 1-5", "America/New_York", NOW.parse().unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
