#!/usr/bin/env bash
# Installs or upgrades Paddock from its .deb, configures this host as a
# master, an agent or both, and enables and starts the services. Idempotent:
# a second run with the same arguments changes nothing; a run with a newer
# .deb upgrades (tasks keep running), one with changed settings rewrites them
# and restarts the services. Works on any Debian or Ubuntu host with systemd,
# inside Vagrant or not; where systemd is not running (a chroot, an image
# build), the services are enabled but not started.
#
#   paddock.sh --role master|agent|both [--deb FILE|DIR] [--ip ADDRESS]
#              [--master HOST:PORT] [--master-args "FLAGS"] [--agent-args "FLAGS"]
#
#   --role         master: paddock-master only; agent: paddock-agent only;
#                  both: one host with both (the playa-mesos VM)
#   --deb          the .deb, or a directory whose newest paddock_*.deb is used
#                  (default: ../dist beside this script)
#   --ip           this host's address as others reach it: the master's
#                  --hostname, the agent's --advertise-ip and --hostname
#   --master       where agents find the master (default: ADDRESS:5050 with
#                  --ip, else 127.0.0.1:5050)
#   --master-args, --agent-args
#                  more flags for `paddock master` / `paddock agent`
#                  (see /etc/paddock/*.conf)
set -euo pipefail

usage() {
  sed -n '10,23p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
log() { echo "paddock-provision: $*"; }
die() {
  echo "paddock-provision: $*" >&2
  exit 1
}

role=""
deb="$(cd "$(dirname "$0")" && pwd)/../dist"
ip=""
master=""
master_args=""
agent_args=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
  --role) role="$2" ;;
  --deb) deb="$2" ;;
  --ip) ip="$2" ;;
  --master) master="$2" ;;
  --master-args) master_args="$2" ;;
  --agent-args) agent_args="$2" ;;
  *) usage ;;
  esac
  shift 2
done
case "$role" in
master | agent | both) ;;
*) usage ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root"
if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
  die "needs a Debian or Ubuntu host (dpkg and apt-get)"
fi

# --- the package ---------------------------------------------------------

# The newest paddock_*.deb in a directory, by Debian version order.
newest_deb() {
  local best="" best_version="" f v
  for f in "$1"/paddock_*.deb; do
    [ -f "$f" ] || continue
    v="$(dpkg-deb -f "$f" Version)"
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best_version"; then
      best="$f"
      best_version="$v"
    fi
  done
  [ -n "$best" ] || die "no paddock_*.deb in $1 (build one: packaging/build-deb.sh $1)"
  echo "$best"
}

if [ -d "$deb" ]; then
  deb="$(newest_deb "$deb")"
fi
[ -f "$deb" ] || die "no such .deb: $deb (build one: packaging/build-deb.sh DIR)"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
[ "$(dpkg-deb -f "$deb" Package)" = paddock ] || die "$deb is not the paddock package"
new_version="$(dpkg-deb -f "$deb" Version)"
old_version="$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' paddock 2>/dev/null |
  awk '$1 == "ii" { print $2 }')" || true

apt_install() {
  # Keep the configuration files as they are (this script manages them) and
  # never ask: --force-confold/--force-confdef.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    -o DPkg::Lock::Timeout=300 "$deb"
}

if [ -z "$old_version" ] || dpkg --compare-versions "$new_version" gt "$old_version"; then
  log "installing paddock $new_version${old_version:+ (was $old_version)}"
  # Dependencies come from apt; refresh its lists once if they are stale.
  if ! apt_install; then
    log "apt-get install failed; updating the package lists and retrying"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_install
  fi
elif [ "$new_version" = "$old_version" ]; then
  log "paddock $old_version is already installed"
else
  log "paddock $old_version is installed, newer than $new_version: not downgrading"
fi

# --- configuration -------------------------------------------------------

# Sets NAME=VALUE in an EnvironmentFile: replaces the first active NAME= line,
# or appends one. Prints "changed" when the file changed.
set_var() {
  local file="$1" name="$2" value="$3" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  awk -v name="$name" -v value="$value" '
    !done && index($0, name "=") == 1 { print name "=" value; done = 1; next }
    { print }
    END { if (!done) print name "=" value }' "$file" >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    chmod --reference="$file" "$tmp"
    mv "$tmp" "$file"
    echo changed
  fi
}

join_args() {
  local out="" a
  for a in "$@"; do
    [ -n "$a" ] && out="${out:+$out }$a"
  done
  echo "$out"
}

master_conf=/etc/paddock/master.conf
agent_conf=/etc/paddock/agent.conf
if [ ! -f "$master_conf" ] || [ ! -f "$agent_conf" ]; then
  die "the package did not install /etc/paddock/*.conf"
fi

master_changed=""
agent_changed=""
if [ "$role" != agent ]; then
  master_changed="$(set_var "$master_conf" PADDOCK_MASTER_ARGS \
    "$(join_args "${ip:+--hostname $ip}" "$master_args")")"
fi
if [ "$role" != master ]; then
  if [ -z "$master" ]; then
    master="${ip:-127.0.0.1}:5050"
  fi
  agent_changed="$(set_var "$agent_conf" PADDOCK_MASTER "$master")"
  agent_changed+="$(set_var "$agent_conf" PADDOCK_AGENT_ARGS \
    "$(join_args "${ip:+--advertise-ip $ip --hostname $ip}" "$agent_args")")"
fi

# --- services ------------------------------------------------------------

wanted=()
unwanted=()
case "$role" in
master) wanted=(paddock-master.service) unwanted=(paddock-agent.service) ;;
agent) wanted=(paddock-agent.service) unwanted=(paddock-master.service) ;;
both) wanted=(paddock-master.service paddock-agent.service) ;;
esac

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  for unit in "${unwanted[@]}"; do
    if systemctl is-enabled --quiet "$unit" || systemctl is-active --quiet "$unit"; then
      log "disabling $unit (not in role $role)"
      systemctl disable --now --quiet "$unit"
    fi
  done
  for unit in "${wanted[@]}"; do
    systemctl enable --quiet "$unit"
    changed="$master_changed"
    [ "$unit" = paddock-agent.service ] && changed="$agent_changed"
    if [ -n "$changed" ] && systemctl is-active --quiet "$unit"; then
      log "settings changed: restarting $unit"
      systemctl restart "$unit"
    elif ! systemctl is-active --quiet "$unit"; then
      log "starting $unit"
      systemctl start "$unit"
    fi
  done
  for unit in "${wanted[@]}"; do
    # A unit that fails at once (bad flags) is "activating" (auto-restart)
    # or "failed" a moment later.
    sleep 1
    state="$(systemctl is-active "$unit" || true)"
    [ "$state" = active ] || die "$unit is $state: see journalctl -u $unit"
    log "$unit is active"
  done
elif ! command -v systemctl >/dev/null; then
  log "no systemd on this host: start the services by hand (see /usr/lib/systemd/system/paddock-*.service)"
else
  for unit in "${unwanted[@]}"; do
    systemctl disable --quiet "$unit" 2>/dev/null || true
  done
  for unit in "${wanted[@]}"; do
    systemctl enable --quiet "$unit"
  done
  log "systemd is not running here: ${wanted[*]} enabled, to start at the next boot"
fi

if [ "$role" != agent ] && [ -z "$master_args" ]; then
  log "web UIs: http://${ip:-127.0.0.1}:5050 (Mesos), :8080 (Marathon), :4400 (Chronos)"
fi
