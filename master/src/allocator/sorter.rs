//! Who gets the next agent: the lowest weighted-share role, then the lowest
//! dominant-share eligible framework in it, ties broken by name and id.
//!
//! Two sorters give the same answer. `HeapSorter` keeps shares in binary
//! heaps, built once per pass and updated after each grant, so a pass costs
//! O(agents · log frameworks). `LinearSorter` recomputes every share from
//! the books for every agent, O(agents · frameworks), roughly what Mesos did
//! before its 1.7 sorter fixes; it is the reference the property test
//! compares against and the baseline the benchmark measures.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use paddock_proto::mesos::{AgentId, FrameworkId};

use super::books::Books;
use super::share::Share;

pub(super) trait Sorter {
    /// The framework to offer `agent` to, if any is eligible.
    fn pick(&mut self, agent: &AgentId, books: &Books) -> Option<FrameworkId>;
    /// `fw` was just granted an agent; the books already count it.
    fn granted(&mut self, fw: &FrameworkId, books: &Books);
}

type MinHeap<T> = BinaryHeap<Reverse<(Share, T)>>;

/// Per-role heaps of eligible frameworks keyed by (share, id), and a heap of
/// roles keyed by (weighted share, name).
pub(super) struct HeapSorter {
    frameworks: HashMap<String, MinHeap<FrameworkId>>,
    roles: MinHeap<String>,
    /// The role and framework `pick` popped, to be pushed back by `granted`.
    taken: Option<(Reverse<(Share, String)>, FrameworkId)>,
}

impl HeapSorter {
    /// Heaps of the frameworks that are active and not suppressed (filters
    /// are per agent and checked in `pick`).
    pub fn new(books: &Books) -> Self {
        let mut frameworks: HashMap<String, MinHeap<FrameworkId>> = HashMap::new();
        for (id, f) in &books.frameworks {
            if f.active && !f.suppressed {
                frameworks
                    .entry(f.role.clone())
                    .or_default()
                    .push(Reverse((Share(books.framework_share(f)), id.clone())));
            }
        }
        let roles = frameworks
            .keys()
            .map(|role| Reverse((Share(books.role_share(role)), role.clone())))
            .collect();
        HeapSorter {
            frameworks,
            roles,
            taken: None,
        }
    }
}

impl Sorter for HeapSorter {
    fn pick(&mut self, agent: &AgentId, books: &Books) -> Option<FrameworkId> {
        let mut skipped_roles = Vec::new();
        let mut found = None;
        while let Some(role_entry) = self.roles.pop() {
            let Some(heap) = self.frameworks.get_mut(&role_entry.0 .1) else {
                continue;
            };
            let mut skipped = Vec::new();
            let mut chosen = None;
            while let Some(entry) = heap.pop() {
                if books.eligible(&entry.0 .1, agent) {
                    chosen = Some(entry.0 .1);
                    break;
                }
                skipped.push(entry);
            }
            heap.extend(skipped);
            match chosen {
                Some(id) => {
                    found = Some((role_entry, id));
                    break;
                }
                None => skipped_roles.push(role_entry),
            }
        }
        self.roles.extend(skipped_roles);
        let id = found.as_ref().map(|(_, id)| id.clone());
        self.taken = found;
        id
    }

    fn granted(&mut self, fw: &FrameworkId, books: &Books) {
        let Some((Reverse((_, role)), id)) = self.taken.take() else {
            return;
        };
        debug_assert_eq!(&id, fw);
        if let Some(f) = books.frameworks.get(&id) {
            let share = Share(books.framework_share(f));
            if let Some(heap) = self.frameworks.get_mut(&role) {
                heap.push(Reverse((share, id)));
            }
        }
        self.roles
            .push(Reverse((Share(books.role_share(&role)), role)));
    }
}

/// No state: every pick scans every role and every framework.
pub(super) struct LinearSorter;

impl Sorter for LinearSorter {
    fn pick(&mut self, agent: &AgentId, books: &Books) -> Option<FrameworkId> {
        // The lowest eligible framework of each role, then the lowest role.
        let mut best_in_role: HashMap<&str, (Share, &FrameworkId)> = HashMap::new();
        for (id, f) in &books.frameworks {
            if !books.eligible(id, agent) {
                continue;
            }
            let key = (Share(books.framework_share(f)), id);
            let slot = best_in_role.entry(f.role.as_str()).or_insert(key);
            if key < *slot {
                *slot = key;
            }
        }
        best_in_role
            .into_iter()
            .map(|(role, (_, id))| ((Share(books.role_share(role)), role), id))
            .min()
            .map(|(_, id)| id.clone())
    }

    fn granted(&mut self, _fw: &FrameworkId, _books: &Books) {}
}
