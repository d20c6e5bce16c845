#!/bin/sh
# PID 1 of the test container (tests/tests/packaging.rs): makes the cgroup v1
# controllers writable, then becomes systemd. systemd-nspawn mounts them
# read-only, and the agent creates a cgroup per task in them. On a cgroup v2
# host there is nothing to remount.
set -eu
for dir in /sys/fs/cgroup/*/; do
    mount -o remount,bind,rw "$dir" 2>/dev/null || true
done
exec /lib/systemd/systemd "$@"
