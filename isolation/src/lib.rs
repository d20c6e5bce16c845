//! Paddock cgroup and namespace isolation (stub).
