#!/usr/bin/env bash
# Restart one process of the running test node, as an operator restarting a systemd unit
# would: SIGTERM, wait for it to exit, start it again with the same command line (read from
# /proc before it stops), its output appended to the same log.
#
#   restart.sh NAME     NAME: kubelet, containerd, kube-apiserver, kube-scheduler, ...
#
# Environment: NODE_DIR (default /tmp/sonde-node).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=${1:?usage: restart.sh NAME}
pidfile=$NODE_DIR/pids/$name.pid
[[ -f $pidfile ]] || die "no $pidfile: is the node up?"
pid=$(cat "$pidfile")
[[ -r /proc/$pid/cmdline ]] || die "$name (pid $pid) is not running"
mapfile -d '' argv <"/proc/$pid/cmdline"
start=$(now_ms)

kill -TERM "$pid"
for ((i = 0; i < 150; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	sleep 0.2
fi

echo ">> restart.sh: restarting $name at $(date -u +%FT%TZ)" >>"$NODE_DIR/logs/$name.log"
setsid "${argv[@]}" </dev/null >>"$NODE_DIR/logs/$name.log" 2>&1 &
echo $! >"$pidfile"
sleep 1
kill -0 "$(cat "$pidfile")" 2>/dev/null || die "$name exited right after its restart: see $NODE_DIR/logs/$name.log"
log "$name restarted in $(elapsed "$start") s"
