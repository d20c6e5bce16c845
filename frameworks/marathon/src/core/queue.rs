//! Launch-queue statistics per app: how many offers were processed for it,
//! how many went unused and why (Marathon's `processedOffersSummary`), so an
//! app that can never be placed shows the reason in `/v2/queue`.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::core::Timestamp;
use crate::launch::matcher::RejectReason;

/// How many of the last offers the reject summary covers.
pub const LAST_OFFERS: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferStats {
    pub processed_offers_count: u64,
    pub unused_offers_count: u64,
    pub last_unused_offer_at: Option<Timestamp>,
    pub last_used_offer_at: Option<Timestamp>,
    /// Why each of the last unused offers was rejected, newest last.
    pub last_rejections: VecDeque<RejectReason>,
    /// Offers processed within the last-offers window (used and unused).
    pub last_processed: VecDeque<Option<RejectReason>>,
}

/// One row of `rejectSummaryLastOffers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: RejectReason,
    /// Offers that reached this stage of the funnel.
    pub processed: u64,
    /// Offers rejected at this stage.
    pub declined: u64,
}

impl OfferStats {
    pub fn record_used(&mut self, now: Timestamp) {
        self.processed_offers_count += 1;
        self.last_used_offer_at = Some(now);
        push_bounded(&mut self.last_processed, None);
    }

    pub fn record_unused(&mut self, reason: RejectReason, now: Timestamp) {
        self.processed_offers_count += 1;
        self.unused_offers_count += 1;
        self.last_unused_offer_at = Some(now);
        push_bounded(&mut self.last_rejections, reason);
        push_bounded(&mut self.last_processed, Some(reason));
    }

    /// The funnel over the last offers, in Marathon's order: every stage
    /// lists how many offers got that far and how many it turned away.
    pub fn reject_summary(&self) -> Vec<ReasonCount> {
        let mut declined: BTreeMap<RejectReason, u64> = BTreeMap::new();
        for r in self.last_processed.iter().flatten() {
            *declined.entry(*r).or_insert(0) += 1;
        }
        let mut processed = self.last_processed.len() as u64;
        RejectReason::FUNNEL
            .iter()
            .map(|reason| {
                let d = declined.get(reason).copied().unwrap_or(0);
                let row = ReasonCount {
                    reason: *reason,
                    processed,
                    declined: d,
                };
                processed -= d;
                row
            })
            .collect()
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == LAST_OFFERS {
        q.pop_front();
    }
    q.push_back(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_funnel_counts_stages() {
        let mut s = OfferStats::default();
        let now = Timestamp::from_millis(5);
        s.record_unused(RejectReason::InsufficientCpus, now);
        s.record_unused(RejectReason::InsufficientCpus, now);
        s.record_unused(RejectReason::UnfulfilledConstraint, now);
        s.record_used(now);
        assert_eq!(s.processed_offers_count, 4);
        assert_eq!(s.unused_offers_count, 3);
        let sum = s.reject_summary();
        assert_eq!(sum.len(), RejectReason::FUNNEL.len());
        let get = |r: RejectReason| sum.iter().find(|c| c.reason == r).copied();
        assert_eq!(
            get(RejectReason::UnfulfilledConstraint).map(|c| (c.processed, c.declined)),
            Some((4, 1))
        );
        assert_eq!(
            get(RejectReason::InsufficientCpus).map(|c| (c.processed, c.declined)),
            Some((3, 2))
        );
        assert_eq!(
            get(RejectReason::InsufficientMemory).map(|c| (c.processed, c.declined)),
            Some((1, 0))
        );
    }

    #[test]
    fn only_the_last_offers_are_kept() {
        let mut s = OfferStats::default();
        for _ in 0..(LAST_OFFERS + 10) {
            s.record_unused(RejectReason::InsufficientPorts, Timestamp::ZERO);
        }
        assert_eq!(s.last_rejections.len(), LAST_OFFERS);
        assert_eq!(s.unused_offers_count, (LAST_OFFERS + 10) as u64);
    }
}
