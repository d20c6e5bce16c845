//! Host-port allocation from an offer's `ports` ranges: dynamic ports for
//! port definitions with port 0 (or when requirePorts is off), the declared
//! ports themselves when requirePorts is on, and fixed `hostPort`s of
//! container port mappings.

use paddock_proto::resources::RangeSet;

use crate::core::spec::PortSpec;

/// Picks one host port per port definition from `available`. A fixed
/// `host_port`, and with `require_ports` a non-zero declared port, must
/// itself be offered; other
/// ports take the lowest free offered ports. `None` when the offer cannot
/// supply them all. Ports are distinct.
pub fn allocate(defs: &[PortSpec], require_ports: bool, available: &RangeSet) -> Option<Vec<u32>> {
    let mut taken: Vec<u64> = Vec::with_capacity(defs.len());
    // Fixed ports first, so dynamic ones never steal them.
    let mut out: Vec<Option<u32>> = vec![None; defs.len()];
    for (i, d) in defs.iter().enumerate() {
        let fixed = d
            .host_port
            .filter(|p| *p != 0)
            .or((require_ports && d.port != 0).then_some(d.port));
        if let Some(port) = fixed {
            let p = u64::from(port);
            if !available.contains_value(p) || taken.contains(&p) {
                return None;
            }
            taken.push(p);
            out[i] = Some(port);
        }
    }
    let needed = out.iter().filter(|p| p.is_none()).count();
    if needed > 0 {
        let taken_set = RangeSet::new(taken.iter().map(|p| (*p, *p)));
        let free = available.subtract(&taken_set);
        let mut dynamic = free.values().filter(|p| *p <= u64::from(u16::MAX));
        for slot in out.iter_mut().filter(|p| p.is_none()) {
            *slot = Some(dynamic.next()? as u32);
        }
    }
    out.into_iter().collect()
}

/// The ports as a range set, to subtract from what an offer has left.
pub fn as_ranges(ports: &[u32]) -> RangeSet {
    RangeSet::new(ports.iter().map(|p| (u64::from(*p), u64::from(*p))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(ports: &[u32]) -> Vec<PortSpec> {
        ports.iter().map(|p| PortSpec::new(*p)).collect()
    }

    #[test]
    fn dynamic_ports_come_from_the_offer() {
        let avail = RangeSet::new([(31000, 31001), (31005, 31005)]);
        assert_eq!(
            allocate(&defs(&[0, 10000, 0]), false, &avail),
            Some(vec![31000, 31001, 31005])
        );
        assert_eq!(allocate(&defs(&[0, 0, 0, 0]), false, &avail), None);
        assert_eq!(allocate(&[], false, &avail), Some(vec![]));
        assert_eq!(allocate(&defs(&[0]), false, &RangeSet::default()), None);
    }

    #[test]
    fn required_ports_must_be_offered() {
        let avail = RangeSet::new([(31000, 31010)]);
        assert_eq!(
            allocate(&defs(&[31005, 0]), true, &avail),
            Some(vec![31005, 31000])
        );
        assert_eq!(allocate(&defs(&[8080]), true, &avail), None);
        // Without requirePorts the declared (service) port is not a host port.
        assert_eq!(allocate(&defs(&[8080]), false, &avail), Some(vec![31000]));
        // A dynamic port never takes a required one.
        assert_eq!(
            allocate(&defs(&[0, 31000]), true, &RangeSet::new([(31000, 31001)])),
            Some(vec![31001, 31000])
        );
    }

    #[test]
    fn fixed_host_ports_of_port_mappings() {
        let avail = RangeSet::new([(31000, 31010)]);
        let mut d = PortSpec::new(10000);
        d.host_port = Some(31007);
        assert_eq!(
            allocate(&[d.clone(), PortSpec::new(0)], false, &avail),
            Some(vec![31007, 31000])
        );
        d.host_port = Some(80);
        assert_eq!(allocate(&[d], false, &avail), None);
    }

    #[test]
    fn allocated_ports_are_distinct_and_offered() {
        let avail = RangeSet::new([(31000, 31003), (32000, 32001)]);
        for n in 0..=6usize {
            let got = allocate(&defs(&vec![0; n]), false, &avail);
            let Some(got) = got else {
                panic!("{n} ports fit in 6");
            };
            let mut sorted = got.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), n);
            assert!(got.iter().all(|p| avail.contains_value(u64::from(*p))));
        }
        assert!(allocate(&defs(&[0; 7]), false, &avail).is_none());
    }
}
