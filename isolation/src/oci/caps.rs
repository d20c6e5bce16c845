//! The capabilities of a container's processes: Docker's default set, the
//! rest dropped from every set (bounding, effective, permitted; inheritable
//! and ambient empty, as Docker does since CVE-2022-24769).

use std::collections::HashSet;

use oci_spec::runtime::{Capability, LinuxCapabilities};

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// The bit of each default capability, as `CapEff:` in /proc/PID/status
/// shows it: `00000000a80425fb`.
pub const DEFAULT_MASK: u64 = (1 << 0) // CHOWN
    | (1 << 1) // DAC_OVERRIDE
    | (1 << 3) // FOWNER
    | (1 << 4) // FSETID
    | (1 << 5) // KILL
    | (1 << 6) // SETGID
    | (1 << 7) // SETUID
    | (1 << 8) // SETPCAP
    | (1 << 10) // NET_BIND_SERVICE
    | (1 << 13) // NET_RAW
    | (1 << 18) // SYS_CHROOT
    | (1 << 27) // MKNOD
    | (1 << 29) // AUDIT_WRITE
    | (1 << 31); // SETFCAP

/// The OCI capabilities of a container process.
pub fn default_capabilities() -> LinuxCapabilities {
    let set: HashSet<Capability> = DEFAULT.iter().copied().collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(Some(HashSet::new()))
        .set_ambient(Some(HashSet::new()));
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_is_dockers() {
        assert_eq!(DEFAULT_MASK, 0xa80425fb);
        assert_eq!(DEFAULT.len(), DEFAULT_MASK.count_ones() as usize);
    }

    #[test]
    fn nothing_beyond_the_default_set_in_any_set() {
        let caps = default_capabilities();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.as_ref().map(|s| s.len());
            assert_eq!(set, Some(DEFAULT.len()));
        }
        assert!(!caps
            .bounding()
            .as_ref()
            .is_some_and(|s| s.contains(&Capability::SysAdmin)));
        assert_eq!(caps.ambient().as_ref().map(|s| s.len()), Some(0));
        assert_eq!(caps.inheritable().as_ref().map(|s| s.len()), Some(0));
    }
}
