//! Dominant shares and a total order on them for the heaps.

use std::cmp::Ordering;

use paddock_proto::resources::Resources;

/// The largest fraction of any scalar resource of the cluster that
/// `alloc` holds (DRF's dominant share).
pub fn dominant_share(alloc: &Resources, cluster: &Resources) -> f64 {
    let mut best: f64 = 0.0;
    for (name, total) in cluster.scalars() {
        if total > 0.0 {
            best = best.max(alloc.scalar(name) / total);
        }
    }
    best
}

/// An f64 with a total order (NaN never occurs: shares are finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share(pub f64);

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
