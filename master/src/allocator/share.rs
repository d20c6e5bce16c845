//! Dominant shares and a total order on them for the heaps.

use std::cmp::Ordering;

use paddock_proto::resources::Resources;

/// The largest fraction of any scalar resource of the cluster that the sum
/// of `parts` holds (DRF's dominant share). Sums in fixed point, so the same
/// books always give bit-identical shares, and nothing is cloned.
pub fn dominant_share(parts: &[&Resources], cluster: &Resources) -> f64 {
    let mut best: f64 = 0.0;
    for name in cluster.scalar_names() {
        let total = cluster.scalar_milli(name);
        if total > 0 {
            let held: i64 = parts.iter().map(|p| p.scalar_milli(name)).sum();
            best = best.max(held as f64 / total as f64);
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
