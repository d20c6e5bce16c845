#!/usr/bin/env bash
# Starts the services the tests need when they are not running yet:
# dockerd (with runc and cgroupfs, as this hybrid cgroup v1 host needs).
# Idempotent; called by scripts/test.sh after scripts/setup.sh.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    echo "start-services: dockerd is not installed (apt-get install docker.io)" >&2
    exit 1
  fi
  echo "start-services: starting dockerd"
  mkdir -p /var/log
  nohup dockerd --host=unix:///var/run/docker.sock --default-runtime=runc \
    --exec-opt native.cgroupdriver=cgroupfs >/var/log/paddock-dockerd.log 2>&1 &
  for _ in $(seq 150); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! docker info >/dev/null 2>&1; then
    echo "start-services: dockerd did not come up; its log:" >&2
    tail -20 /var/log/paddock-dockerd.log >&2 || true
    exit 1
  fi
fi
echo "start-services: dockerd is up"
