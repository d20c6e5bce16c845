//! The disk policy, pure: what a container may use, whether it is over, and
//! what its tasks are told.

use paddock_proto::mesos::{ExecutorInfo, TaskInfo};
use paddock_proto::resources::Resources;

const MB: u64 = 1 << 20;

/// The container's limit in bytes: the `disk` of its executor and of its
/// tasks (MB, as Mesos counts them). None when they name no disk: such
/// containers are measured but not limited.
pub fn limit_bytes(executor: &ExecutorInfo, tasks: &[TaskInfo]) -> Option<u64> {
    let mut mb = Resources::from_mesos(&executor.resources)
        .map(|r| r.scalar("disk"))
        .unwrap_or(0.0);
    for t in tasks {
        mb += Resources::from_mesos(&t.resources)
            .map(|r| r.scalar("disk"))
            .unwrap_or(0.0);
    }
    (mb > 0.0).then(|| (mb * MB as f64).round() as u64)
}

/// What one measurement means for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No limit: nothing to enforce.
    Unlimited,
    Within,
    /// Over the limit, and enforcement is on: kill it.
    Exceeded {
        used: u64,
        limit: u64,
    },
    /// Over the limit, but `--enforce-disk-quota=false`: only reported.
    OverButNotEnforced {
        used: u64,
        limit: u64,
    },
}

/// Over means strictly more than the limit, as Mesos's posix/disk isolator.
pub fn verdict(used: u64, limit: Option<u64>, enforce: bool) -> Verdict {
    match limit {
        None => Verdict::Unlimited,
        Some(limit) if used <= limit => Verdict::Within,
        Some(limit) if enforce => Verdict::Exceeded { used, limit },
        Some(limit) => Verdict::OverButNotEnforced { used, limit },
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

/// The message of the TASK_FAILED (REASON_CONTAINER_LIMITATION_DISK).
pub fn message(used: u64, limit: u64) -> String {
    format!(
        "Disk usage {} ({used} bytes) exceeds the container's disk limit of {} ({limit} bytes)",
        mb(used),
        mb(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_disk(json: &str) -> Vec<paddock_proto::mesos::Resource> {
        Resources::parse(json).unwrap().to_mesos(None)
    }

    fn task(res: &str) -> TaskInfo {
        TaskInfo {
            resources: with_disk(res),
            ..Default::default()
        }
    }

    #[test]
    fn the_limit_is_the_disk_of_the_executor_and_its_tasks() {
        let exec = ExecutorInfo::default();
        assert_eq!(limit_bytes(&exec, &[task("cpus:1;mem:32")]), None);
        assert_eq!(limit_bytes(&exec, &[]), None);
        assert_eq!(
            limit_bytes(&exec, &[task("cpus:1;disk:5")]),
            Some(5 * 1048576)
        );
        let exec = ExecutorInfo {
            resources: with_disk("disk:1.5"),
            ..Default::default()
        };
        assert_eq!(
            limit_bytes(&exec, &[task("disk:5"), task("disk:10")]),
            Some(16 * 1048576 + 524288)
        );
    }

    #[test]
    fn only_more_than_the_limit_is_over() {
        assert_eq!(verdict(10, None, true), Verdict::Unlimited);
        assert_eq!(verdict(100, Some(100), true), Verdict::Within);
        assert_eq!(
            verdict(101, Some(100), true),
            Verdict::Exceeded {
                used: 101,
                limit: 100
            }
        );
        assert_eq!(
            verdict(101, Some(100), false),
            Verdict::OverButNotEnforced {
                used: 101,
                limit: 100
            }
        );
        assert_eq!(verdict(0, Some(0), true), Verdict::Within);
    }

    #[test]
    fn the_message_names_usage_and_limit() {
        let m = message(21 * 1048576, 5 * 1048576);
        assert!(m.contains("21.0 MB"), "{m}");
        assert!(m.contains("5.0 MB"), "{m}");
        assert!(
            m.contains("22020096 bytes") && m.contains("5242880 bytes"),
            "{m}"
        );
    }
}
