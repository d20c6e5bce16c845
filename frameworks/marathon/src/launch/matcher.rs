//! Matching one app instance against what is left of an offer: role,
//! constraints, cpus, mem, disk, gpus and ports, in Marathon's funnel order,
//! so a rejection names the first reason that stopped it.

use paddock_proto::mesos::{AgentId, Offer, OfferId};
use paddock_proto::resources::{RangeSet, Resources};
use serde::{Deserialize, Serialize};

use crate::core::spec::RunSpec;
use crate::launch::constraints::{first_unmet, Place};
use crate::launch::ports;

/// Why an offer could not take an instance (Marathon's `NoOfferMatchReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RejectReason {
    UnfulfilledRole,
    UnfulfilledConstraint,
    NoCorrespondingReservationFound,
    AgentMaintenance,
    InsufficientCpus,
    InsufficientMemory,
    InsufficientDisk,
    InsufficientGpus,
    InsufficientPorts,
    DeclinedScarceResources,
}

impl RejectReason {
    /// Marathon's funnel order (`rejectSummaryLastOffers` is listed in it).
    pub const FUNNEL: [RejectReason; 10] = [
        RejectReason::UnfulfilledRole,
        RejectReason::UnfulfilledConstraint,
        RejectReason::NoCorrespondingReservationFound,
        RejectReason::AgentMaintenance,
        RejectReason::InsufficientCpus,
        RejectReason::InsufficientMemory,
        RejectReason::InsufficientDisk,
        RejectReason::InsufficientGpus,
        RejectReason::InsufficientPorts,
        RejectReason::DeclinedScarceResources,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnfulfilledRole => "UnfulfilledRole",
            RejectReason::UnfulfilledConstraint => "UnfulfilledConstraint",
            RejectReason::NoCorrespondingReservationFound => "NoCorrespondingReservationFound",
            RejectReason::AgentMaintenance => "AgentMaintenance",
            RejectReason::InsufficientCpus => "InsufficientCpus",
            RejectReason::InsufficientMemory => "InsufficientMemory",
            RejectReason::InsufficientDisk => "InsufficientDisk",
            RejectReason::InsufficientGpus => "InsufficientGpus",
            RejectReason::InsufficientPorts => "InsufficientPorts",
            RejectReason::DeclinedScarceResources => "DeclinedScarceResources",
        }
    }
}

/// What is left of one offer while instances are placed on it.
#[derive(Debug, Clone)]
pub struct OfferPool {
    pub offer_id: OfferId,
    pub agent_id: AgentId,
    pub place: Place,
    pub role: String,
    pub remaining: Resources,
    /// Whether anything was taken from this offer.
    pub used: bool,
}

impl OfferPool {
    /// Reads an offer; resources that cannot be read (SET/TEXT) are ignored.
    pub fn from_offer(offer: &Offer) -> OfferPool {
        let readable: Vec<_> = offer
            .resources
            .iter()
            .filter(|r| Resources::from_mesos(std::slice::from_ref(*r)).is_ok())
            .cloned()
            .collect();
        let remaining = Resources::from_mesos(&readable).unwrap_or_default();
        let role = offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .or_else(|| {
                offer
                    .resources
                    .iter()
                    .find_map(|r| r.allocation_info.as_ref()?.role.clone())
            })
            .unwrap_or_else(|| "*".to_string());
        OfferPool {
            offer_id: offer.id.clone(),
            agent_id: offer.agent_id.clone(),
            place: Place::of_offer(offer),
            role,
            remaining,
            used: false,
        }
    }

    /// Can this offer take one more instance of `spec`, given the places of
    /// its instances already placed? `Ok` carries the host ports to use.
    pub fn check(&self, spec: &RunSpec, placed: &[&Place]) -> Result<Vec<u32>, RejectReason> {
        if !spec.accepted_resource_roles.is_empty()
            && !spec.accepted_resource_roles.iter().any(|r| r == &self.role)
        {
            return Err(RejectReason::UnfulfilledRole);
        }
        if first_unmet(&spec.constraints, &self.place, placed).is_some() {
            return Err(RejectReason::UnfulfilledConstraint);
        }
        let need =
            |name: &str, v: f64| (v * 1000.0).round() as i64 > self.remaining.scalar_milli(name);
        if need("cpus", spec.cpus) {
            return Err(RejectReason::InsufficientCpus);
        }
        if need("mem", spec.mem) {
            return Err(RejectReason::InsufficientMemory);
        }
        if need("disk", spec.disk) {
            return Err(RejectReason::InsufficientDisk);
        }
        if need("gpus", spec.gpus) {
            return Err(RejectReason::InsufficientGpus);
        }
        let empty = RangeSet::default();
        let offered = self.remaining.range_set("ports").unwrap_or(&empty);
        let host_ports = ports::allocate(&spec.port_definitions, spec.require_ports, offered)
            .ok_or(RejectReason::InsufficientPorts)?;
        // GPUs are scarce: an app that needs none does not take a GPU agent.
        if spec.gpus <= 0.0 && self.remaining.scalar_milli("gpus") > 0 && !self.used {
            return Err(RejectReason::DeclinedScarceResources);
        }
        Ok(host_ports)
    }

    /// Takes one instance's resources out of the offer.
    pub fn consume(&mut self, spec: &RunSpec, host_ports: &[u32]) {
        let take = crate::launch::task_info::task_resources(spec, host_ports);
        self.remaining.subtract(&take);
        self.used = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::PortSpec;
    use crate::launch::constraints::Constraint;
    use paddock_proto::mesos::{Attribute, Text, ValueType};

    fn offer(res: &str, host: &str) -> Offer {
        let r = Resources::parse(res).unwrap_or_default();
        Offer {
            id: OfferId::new("o1"),
            agent_id: AgentId::new("a1"),
            hostname: host.into(),
            resources: r.to_mesos(Some("*")),
            attributes: vec![Attribute {
                name: "rack".into(),
                kind: ValueType::Text,
                text: Some(Text { value: "r1".into() }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn app(cpus: f64, mem: f64, ports: usize) -> RunSpec {
        let mut s = RunSpec::new("/a", "v1");
        s.cpus = cpus;
        s.mem = mem;
        s.port_definitions = (0..ports).map(|_| PortSpec::new(0)).collect();
        s
    }

    #[test]
    fn each_shortfall_has_its_reason() {
        let pool =
            OfferPool::from_offer(&offer("cpus:1;mem:256;disk:100;ports:[31000-31001]", "h"));
        assert_eq!(
            pool.check(&app(2.0, 10.0, 0), &[]),
            Err(RejectReason::InsufficientCpus)
        );
        assert_eq!(
            pool.check(&app(1.0, 512.0, 0), &[]),
            Err(RejectReason::InsufficientMemory)
        );
        let mut disk = app(0.1, 10.0, 0);
        disk.disk = 200.0;
        assert_eq!(pool.check(&disk, &[]), Err(RejectReason::InsufficientDisk));
        assert_eq!(
            pool.check(&app(0.1, 10.0, 3), &[]),
            Err(RejectReason::InsufficientPorts)
        );
        let mut gpu = app(0.1, 10.0, 0);
        gpu.gpus = 1.0;
        assert_eq!(pool.check(&gpu, &[]), Err(RejectReason::InsufficientGpus));
        let mut role = app(0.1, 10.0, 0);
        role.accepted_resource_roles = vec!["prod".into()];
        assert_eq!(pool.check(&role, &[]), Err(RejectReason::UnfulfilledRole));
        let mut cons = app(0.1, 10.0, 0);
        cons.constraints = vec![
            Constraint::parse(&["rack".into(), "IS".into(), "r2".into()])
                .unwrap_or_else(|e| panic!("{e}")),
        ];
        assert_eq!(
            pool.check(&cons, &[]),
            Err(RejectReason::UnfulfilledConstraint)
        );
        assert_eq!(pool.check(&app(1.0, 256.0, 2), &[]), Ok(vec![31000, 31001]));
    }

    #[test]
    fn consuming_shrinks_the_offer() {
        let mut pool = OfferPool::from_offer(&offer("cpus:1;mem:256;ports:[31000-31001]", "h"));
        let spec = app(0.5, 100.0, 1);
        let p1 = pool.check(&spec, &[]).unwrap_or_default();
        pool.consume(&spec, &p1);
        let p2 = pool.check(&spec, &[]).unwrap_or_default();
        assert_ne!(p1, p2);
        pool.consume(&spec, &p2);
        assert_eq!(pool.check(&spec, &[]), Err(RejectReason::InsufficientCpus));
        assert!(pool.used);
        assert_eq!(pool.remaining.scalar("mem"), 56.0);
    }

    #[test]
    fn gpu_agents_are_kept_for_gpu_apps() {
        let pool = OfferPool::from_offer(&offer("cpus:4;mem:1024;gpus:1", "h"));
        assert_eq!(
            pool.check(&app(1.0, 10.0, 0), &[]),
            Err(RejectReason::DeclinedScarceResources)
        );
    }
}
