#!/bin/sh
# cgroup v2 for real, in a user-mode-linux guest (Debian: apt-get install
# user-mode-linux). The guest's root is the host filesystem (hostfs), so the
# test binaries built on the host run unchanged; the guest mounts a cgroup2
# hierarchy on /sys/fs/cgroup and runs them with PADDOCK_EXPECT_CGROUP_V2=1.
# It brings loopback up (for tests that start servers on 127.0.0.1), has a
# tmpfs of its own on /tmp, and loads the UML kernel's overlay module when
# it can: overlayfs takes no upper dir on hostfs (it mounts read-only), on
# tmpfs it works as on a real host.
#
# Host:  uml-v2.sh TEST_BINARY...   prints the guest's test output and exits
#                                   with the first failing binary's status
#                                   (2 if the guest never reported one).
# Guest: this same script is the guest's init: uml-v2.sh guest OUTDIR TEST_BINARY...
set -u

if [ "${1:-}" = guest ]; then
    out=$2
    shift 2
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    export HOME=/root
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
    mount -t tmpfs -o mode=1777 tmpfs /tmp || echo "guest: no tmpfs on /tmp" >>"$out/log"
    ip link set lo up 2>/dev/null || busybox ip link set lo up ||
        echo "guest: cannot bring loopback up" >>"$out/log"
    overlay=$(ls /usr/lib/uml/modules/"$(uname -r)"/kernel/fs/overlayfs/overlay.ko* 2>/dev/null)
    if [ -n "$overlay" ]; then
        # busybox has the insmod the host may lack (kmod).
        insmod "$overlay" 2>/dev/null || busybox insmod "$overlay" 2>/dev/null ||
            echo "guest: cannot load $overlay" >>"$out/log"
    fi
    mount -t cgroup2 none /sys/fs/cgroup || echo "guest: cgroup2 mount failed" >>"$out/log"
    cat /sys/fs/cgroup/cgroup.controllers >"$out/controllers" 2>&1
    cd /
    rc=0
    for bin in "$@"; do
        # UML appends its own defaults (root=98:0 console=tty0) after ours.
        [ "$bin" = --end ] && break
        echo "guest: running $bin" >>"$out/log"
        PADDOCK_EXPECT_CGROUP_V2=1 "$bin" --test-threads=1 >>"$out/log" 2>&1
        r=$?
        [ "$rc" -eq 0 ] && rc=$r
    done
    echo "$rc" >"$out/rc"
    sync
    echo o >/proc/sysrq-trigger
    sleep 10
    exit "$rc"
fi

if [ "$#" -eq 0 ]; then
    echo "usage: $0 TEST_BINARY..." >&2
    exit 2
fi
kernel=
for k in /usr/bin/linux.uml /usr/bin/linux; do
    [ -x "$k" ] && kernel=$k && break
done
if [ -z "$kernel" ]; then
    echo "user-mode-linux is not installed: apt-get install user-mode-linux" >&2
    exit 2
fi
self=$(readlink -f "$0")
# Not under /tmp: the guest mounts its own tmpfs there.
out=$(mktemp -d /var/tmp/paddock-uml.XXXXXX)
trap 'rm -rf "$out"' EXIT
# Kernel parameters after "--" become the init's arguments; --end marks
# where ours stop. con0 on fd 2
# keeps the guest console out of the test output.
timeout 300 "$kernel" mem=768M rootfstype=hostfs rootflags=/ rw \
    con=null con0=null,fd:2 "init=$self" -- guest "$out" "$@" --end \
    </dev/null >/dev/null 2>"$out/console"
echo "guest cgroup.controllers: $(cat "$out/controllers" 2>/dev/null)"
cat "$out/log" 2>/dev/null
if [ ! -s "$out/rc" ]; then
    echo "the guest reported no result; its console ends with:"
    tail -n 30 "$out/console"
    exit 2
fi
exit "$(cat "$out/rc")"
