//! Which instances to kill when an app has too many: first what GROUP_BY
//! constraints ask for (to keep the spread even), then instances that are
//! not running (unreachable, staging), then running ones by killSelection.

use crate::core::spec::KillSelection;
use crate::core::Timestamp;
use crate::launch::constraints::{select_to_kill, Constraint, Place};

/// What kill selection needs to know about one candidate.
#[derive(Debug, Clone)]
pub struct KillCandidate<'a> {
    pub place: &'a Place,
    /// TASK_RUNNING (and not unreachable).
    pub running: bool,
    /// When it started running, else when it was staged.
    pub started: Timestamp,
}

/// Indices of `count` candidates to kill, in kill order.
pub fn choose(
    constraints: &[Constraint],
    selection: KillSelection,
    candidates: &[KillCandidate<'_>],
    count: usize,
) -> Vec<usize> {
    let count = count.min(candidates.len());
    if count == 0 {
        return Vec::new();
    }
    let places: Vec<&Place> = candidates.iter().map(|c| c.place).collect();
    let mut chosen = if count < candidates.len() {
        select_to_kill(constraints, &places, count)
    } else {
        Vec::new()
    };
    chosen.truncate(count);
    let mut rest: Vec<usize> = (0..candidates.len())
        .filter(|i| !chosen.contains(i))
        .collect();
    rest.sort_by(|a, b| {
        let (ca, cb) = (&candidates[*a], &candidates[*b]);
        // Not running first, then by age as killSelection says.
        ca.running.cmp(&cb.running).then_with(|| match selection {
            KillSelection::YoungestFirst => cb.started.cmp(&ca.started),
            KillSelection::OldestFirst => ca.started.cmp(&cb.started),
        })
    });
    chosen.extend(rest.into_iter().take(count - chosen.len()));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(place: &Place, running: bool, started: i64) -> KillCandidate<'_> {
        KillCandidate {
            place,
            running,
            started: Timestamp::from_millis(started),
        }
    }

    #[test]
    fn youngest_and_oldest_first() {
        let p = Place::new("h");
        let cs = vec![cand(&p, true, 10), cand(&p, true, 30), cand(&p, true, 20)];
        assert_eq!(
            choose(&[], KillSelection::YoungestFirst, &cs, 2),
            vec![1, 2]
        );
        assert_eq!(choose(&[], KillSelection::OldestFirst, &cs, 2), vec![0, 2]);
        assert_eq!(
            choose(&[], KillSelection::OldestFirst, &cs, 9),
            vec![0, 2, 1]
        );
        assert!(choose(&[], KillSelection::OldestFirst, &cs, 0).is_empty());
    }

    #[test]
    fn not_running_instances_go_first() {
        let p = Place::new("h");
        let cs = vec![cand(&p, true, 50), cand(&p, false, 1), cand(&p, true, 10)];
        assert_eq!(
            choose(&[], KillSelection::YoungestFirst, &cs, 2),
            vec![1, 0]
        );
        assert_eq!(choose(&[], KillSelection::OldestFirst, &cs, 1), vec![1]);
    }

    #[test]
    fn group_by_wins_over_age() {
        let k = Constraint::parse(&["rack".into(), "GROUP_BY".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let a = Place::new("h1").with_attribute("rack", "a");
        let b = Place::new("h2").with_attribute("rack", "b");
        // The youngest is alone on rack b; killing it would unbalance the racks.
        let cs = vec![cand(&a, true, 1), cand(&a, true, 2), cand(&b, true, 99)];
        let picked = choose(&[k], KillSelection::YoungestFirst, &cs, 1);
        assert_eq!(picked.len(), 1);
        assert!(picked[0] < 2, "{picked:?}");
    }
}
