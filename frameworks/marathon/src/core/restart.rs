//! The arithmetic of a rolling restart or upgrade (Marathon's
//! `computeRestartStrategy` and TaskReplaceActor), as a pure function of the
//! app's current instances: which old instances may be killed now and how
//! many new ones may be launched, so that healthy capacity never drops below
//! `ceil(instances × minimumHealthCapacity)` and the total never exceeds
//! `floor(instances × (1 + maximumOverCapacity))` (plus one when both bounds
//! coincide, so that the restart can make progress).

use crate::core::spec::UpgradeStrategy;

/// `(minHealthy, maxCapacity)` for `instances` under `strategy`.
pub fn bounds(instances: u32, strategy: &UpgradeStrategy) -> (u32, u32) {
    let n = f64::from(instances);
    let mhc = strategy.minimum_health_capacity.clamp(0.0, 1.0);
    let moc = strategy.maximum_over_capacity.clamp(0.0, 1.0);
    // Round the products so that 3 × 0.7 = 2.0999… is still 3 after ceil.
    let min_healthy = ((n * mhc * 1e9).round() / 1e9).ceil() as u32;
    let mut max_capacity = ((n * (1.0 + moc) * 1e9).round() / 1e9).floor() as u32;
    if min_healthy == max_capacity {
        max_capacity += 1;
    }
    (min_healthy.min(instances), max_capacity)
}

/// One old-version instance, as the restart sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldInstance {
    /// Running and passing its health checks (or it has none).
    pub healthy: bool,
}

/// The state of the app's new-version instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewInstances {
    /// Launched and not terminal (any state).
    pub active: u32,
    /// Running, healthy and ready.
    pub ready: u32,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestartStep {
    /// Indices into the `old` slice to kill now.
    pub kill_old: Vec<usize>,
    /// New instances to launch now.
    pub launch: u32,
    /// Nothing old is left and `instances` new ones are ready.
    pub done: bool,
}

/// The next step of a rolling replacement to `instances` new instances.
/// `old` lists old instances that are still active and not being killed.
pub fn next_step(
    instances: u32,
    strategy: &UpgradeStrategy,
    old: &[OldInstance],
    new: NewInstances,
) -> RestartStep {
    let (min_healthy, max_capacity) = bounds(instances, strategy);
    let old_healthy = old.iter().filter(|o| o.healthy).count() as u32;
    let healthy_total = old_healthy + new.ready;
    // Old instances that are not healthy never count towards capacity: kill
    // them at once. Healthy ones may go while enough healthy ones remain.
    let mut spare = healthy_total.saturating_sub(min_healthy);
    let mut kill_old = Vec::new();
    for (i, o) in old.iter().enumerate() {
        if !o.healthy {
            kill_old.push(i);
        }
    }
    for (i, o) in old.iter().enumerate() {
        if o.healthy && spare > 0 {
            kill_old.push(i);
            spare -= 1;
        }
    }
    let old_left = old.len() as u32 - kill_old.len() as u32;
    let room = max_capacity.saturating_sub(old_left + new.active);
    let launch = instances.saturating_sub(new.active).min(room);
    let done = old.is_empty() && new.ready >= instances && new.active >= instances;
    RestartStep {
        kill_old,
        launch,
        done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strat(mhc: f64, moc: f64) -> UpgradeStrategy {
        UpgradeStrategy {
            minimum_health_capacity: mhc,
            maximum_over_capacity: moc,
        }
    }

    #[test]
    fn bounds_match_marathon() {
        assert_eq!(
            bounds(3, &strat(0.7, 0.0)),
            (3, 4),
            "the docs' example keeps all 3"
        );
        assert_eq!(bounds(10, &strat(0.5, 0.2)), (5, 12));
        assert_eq!(bounds(4, &strat(1.0, 1.0)), (4, 8));
        assert_eq!(bounds(4, &strat(0.0, 0.0)), (0, 4));
        assert_eq!(bounds(1, &strat(1.0, 0.0)), (1, 2));
    }

    #[test]
    fn default_strategy_starts_all_new_first() {
        let old = vec![OldInstance { healthy: true }; 3];
        let s = next_step(3, &strat(1.0, 1.0), &old, NewInstances::default());
        assert!(s.kill_old.is_empty());
        assert_eq!(s.launch, 3);
        let s = next_step(
            3,
            &strat(1.0, 1.0),
            &old,
            NewInstances {
                active: 3,
                ready: 2,
            },
        );
        assert_eq!(s.kill_old.len(), 2);
        assert_eq!(s.launch, 0);
        assert!(!s.done);
        let s = next_step(
            3,
            &strat(1.0, 1.0),
            &[],
            NewInstances {
                active: 3,
                ready: 3,
            },
        );
        assert!(s.done);
    }

    #[test]
    fn zero_capacity_kills_everything_at_once() {
        let old = vec![OldInstance { healthy: true }; 4];
        let s = next_step(4, &strat(0.0, 0.0), &old, NewInstances::default());
        assert_eq!(s.kill_old, vec![0, 1, 2, 3]);
        assert_eq!(s.launch, 4);
    }

    #[test]
    fn one_at_a_time_when_bounds_coincide() {
        let old = vec![OldInstance { healthy: true }; 3];
        let s = next_step(3, &strat(1.0, 0.0), &old, NewInstances::default());
        assert!(s.kill_old.is_empty());
        assert_eq!(s.launch, 1);
        let s = next_step(
            3,
            &strat(1.0, 0.0),
            &old,
            NewInstances {
                active: 1,
                ready: 1,
            },
        );
        assert_eq!(s.kill_old.len(), 1);
        assert_eq!(s.launch, 1);
    }

    #[test]
    fn unhealthy_old_instances_go_first() {
        let old = vec![
            OldInstance { healthy: false },
            OldInstance { healthy: true },
        ];
        let s = next_step(2, &strat(1.0, 0.0), &old, NewInstances::default());
        assert_eq!(s.kill_old, vec![0]);
        // maxCapacity 3 with one old left leaves room for both new ones.
        assert_eq!(s.launch, 2);
    }

    // A simulated rolling upgrade: the step function's kills never take the
    // healthy count below min(minHealthy, what was healthy before the kills),
    // the total never exceeds maxCapacity, and the upgrade ends once new
    // instances become healthy.
    proptest! {
        #[test]
        fn healthy_capacity_never_drops_below_the_minimum(
            instances in 1u32..12,
            old_count in 0u32..14,
            mhc in 0.0f64..=1.0,
            moc in 0.0f64..=1.0,
            // Each tick: which new instance (if any) becomes healthy, which old one fails.
            events in proptest::collection::vec((0u8..4, 0u8..16, 0u8..8), 1..200),
        ) {
            let strategy = strat(mhc, moc);
            let (min_healthy, max_capacity) = bounds(instances, &strategy);
            let mut old: Vec<OldInstance> = vec![OldInstance { healthy: true }; old_count as usize];
            // New instances: true = ready.
            let mut new: Vec<bool> = Vec::new();
            let mut finished = false;
            for (kind, pick, _) in events.iter().copied().chain(std::iter::repeat_n((1, 0, 0), 200)) {
                let view = NewInstances {
                    active: new.len() as u32,
                    ready: new.iter().filter(|r| **r).count() as u32,
                };
                let step = next_step(instances, &strategy, &old, view);
                if step.done {
                    finished = true;
                    break;
                }
                let healthy_before = old.iter().filter(|o| o.healthy).count() as u32 + view.ready;
                let mut keep = Vec::new();
                for (i, o) in old.iter().enumerate() {
                    if !step.kill_old.contains(&i) {
                        keep.push(*o);
                    }
                }
                old = keep;
                new.extend(std::iter::repeat_n(false, step.launch as usize));
                let healthy_after = old.iter().filter(|o| o.healthy).count() as u32
                    + new.iter().filter(|r| **r).count() as u32;
                prop_assert!(healthy_after >= min_healthy.min(healthy_before),
                    "healthy {healthy_after} < min({min_healthy}, {healthy_before})");
                let total = old.len() as u32 + new.len() as u32;
                prop_assert!(step.launch == 0 || total <= max_capacity,
                    "total {total} > max {max_capacity}");
                prop_assert!(new.len() as u32 <= instances);
                match kind {
                    // A new instance becomes healthy and ready.
                    0 | 1 => {
                        if let Some(n) = new.iter_mut().find(|r| !**r) {
                            *n = true;
                        }
                    }
                    // An old instance turns unhealthy.
                    2 if !old.is_empty() => {
                        let i = pick as usize % old.len();
                        old[i].healthy = false;
                    }
                    _ => {}
                }
            }
            prop_assert!(finished, "the upgrade must finish once new instances become healthy");
        }
    }
}
