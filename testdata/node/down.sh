#!/usr/bin/env bash
# Tear the test node down and undo every change up.sh (and the kubelet, containerd and CNI
# it started) made to the host. Idempotent; works after a failed or killed run, also when
# the pid files are gone (processes are found by the $NODE_DIR in their command line).
# Keeps $NODE_DIR/logs for a look after a failure; removes the rest of $NODE_DIR.
# Exits non-zero when something could not be undone, and says what.
#
# Environment: NODE_DIR (default /tmp/sonde-node). Root only.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$(now_ms)
[[ $(id -u) == 0 ]] || die "down.sh needs root"
problems=()

# our_pids NAME...: pids of this node's processes whose program is one of NAME (kube
# binaries match without their -VERSION suffix): the command line mentions "$NODE_DIR/".
our_pids() {
	local f p argv0 n
	for f in $(grep -lsF -- "$NODE_DIR/" /proc/[0-9]*/cmdline); do
		p=${f#/proc/}
		p=${p%/cmdline}
		argv0=$(tr '\0' '\n' 2>/dev/null <"$f" | head -1) || continue
		argv0=${argv0##*/}
		argv0=${argv0%-"$KUBE_VERSION"}
		for n in "$@"; do
			[[ $argv0 == "$n" ]] && echo "$p"
		done
	done
}
# stop SECONDS PID...: SIGTERM, then SIGKILL whatever still runs after SECONDS.
stop() {
	local secs=$1 i p left
	shift
	[[ $# == 0 ]] && return
	kill -TERM "$@" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		left=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
		[[ $left == 0 ]] && return
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null
	sleep 0.2
}
ctr_() { timeout 10 ctr --address "$CONTAINERD_SOCK" --namespace "$CTR_NS" "$@"; }
# mounts_under DIR...: mount points at or below DIR, deepest first.
mounts_under() {
	local d
	for d in "$@"; do
		awk -v d="$d" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts
	done | sort -r
}
unmount_all() {
	local i m
	for i in 1 2 3 4 5; do
		m=$(mounts_under "$@")
		[[ -z $m ]] && return
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done <<<"$m"
	done
	m=$(mounts_under "$@")
	[[ -z $m ]] || problems+=("mounts left: $(echo $m)")
}

# ---- processes: the kubelet first (it would restart containers), then the containers,
# containerd, the control plane. Nothing of their state is kept, so nobody gets long to
# shut down cleanly.
stop 0 $(our_pids kubelet)
cp_pids=$(our_pids kube-scheduler kube-controller-manager kube-apiserver)
[[ -n $cp_pids ]] && kill -TERM $cp_pids 2>/dev/null
ids=
if [[ -S $CONTAINERD_SOCK ]] && ctr_ version >/dev/null 2>&1; then
	ids=$(ctr_ containers ls -q 2>/dev/null)
	tasks=$(ctr_ tasks ls -q 2>/dev/null)
	for t in $tasks; do ctr_ tasks kill --all --signal SIGKILL "$t" >/dev/null 2>&1 & done
	wait
	for t in $tasks; do ctr_ tasks delete --force "$t" >/dev/null 2>&1 & done
	wait
	for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 & done
	wait
fi
# The kubelet's pod network namespaces (containerd pins them under /run/netns), found
# while their pod addresses still tell them apart: an address in the pod CIDR, or a name
# that our containerd's metadata holds.
meta=$NODE_DIR/containerd/root/io.containerd.metadata.v1.bolt/meta.db
netns=()
for f in /run/netns/*; do
	[[ -e $f ]] || continue
	if nsenter --net="$f" ip -4 -o addr show 2>/dev/null | grep -q "inet ${POD_CIDR%.*}\." ||
		{ [[ -f $meta ]] && grep -aqF "netns/${f##*/}" "$meta"; }; then
		netns+=("$f")
	fi
done
stop 3 $(our_pids containerd)
stop 5 $(our_pids containerd-shim-runc-v2 containerd-shim)
# Container processes whose shim is gone (pod cgroups of this node's kubelet).
leftover=$(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
[[ -n $leftover ]] && kill -KILL $leftover 2>/dev/null
stop 10 $cp_pids $(our_pids kube-scheduler kube-controller-manager kube-apiserver)
stop 1 $(our_pids etcd)
left=$(our_pids kubelet kube-scheduler kube-controller-manager kube-apiserver containerd containerd-shim-runc-v2 etcd)
[[ -z $left ]] || problems+=("processes still running: $left")
rm -rf "$NODE_DIR/pids"

# ---- mounts: the kubelet's (volumes, its rshared self bind mount), containerd's (rootfs,
# shm), the etcd tmpfs, the pods' network namespaces
for f in "${netns[@]}"; do
	umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null
	rm -f "$f"
done
rmdir /run/netns 2>/dev/null
unmount_all "$KUBELET_ROOT" "$NODE_DIR"

# ---- network
for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
	ip link del "$v" 2>/dev/null
done
ip link del "$BRIDGE" 2>/dev/null
# ipt_clean IPTABLES TABLE: our chains (SONDE-*), the portmap plugin's (CNI-*), the
# kubelet's (KUBE-FIREWALL, which it hooks into INPUT and OUTPUT, and its canary and hint
# chains); first the rules that carry our comment or jump to one of them, then the chains.
ipt_clean() {
	local ipt=$1 table=$2 rules chains re r ch
	rules=$($ipt -w -t "$table" -S 2>/dev/null) || return 0
	chains=$(awk '$1 == "-N" && $2 ~ /^((SONDE|CNI)-.*|KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT))$/ {print $2}' <<<"$rules")
	re=$(tr '\n' '|' <<<"$chains")
	re=${re%|}
	{
		grep -E -- "^-A .*--comment \"?$IPT_TAG\"?" <<<"$rules"
		[[ -n $re ]] && grep -E -- "^-A .* -j ($re)( |$)" <<<"$rules"
	} | sort -u | while read -r r; do
		ch=$(awk '{print $2}' <<<"$r")
		[[ -n $re ]] && grep -qxE "$re" <<<"$ch" && continue # goes with its chain
		eval "$ipt -w -t $table -D ${r#-A }"
	done
	for ch in $chains; do $ipt -w -t "$table" -F "$ch"; done
	for ch in $chains; do $ipt -w -t "$table" -X "$ch" || problems+=("$ipt -t $table: chain $ch still referenced"); done
}
for t in filter nat mangle; do
	ipt_clean iptables "$t"
	ipt_clean ip6tables "$t"
done

# ---- host settings, files and folders
if [[ -f $NODE_DIR/host/sysctl ]]; then
	while IFS= read -r kv; do sysctl -qw "$kv" || problems+=("could not restore $kv"); done <"$NODE_DIR/host/sysctl"
fi
if [[ -L $CONTAINERD_SOCK_LINK && $(readlink "$CONTAINERD_SOCK_LINK") == "$CONTAINERD_SOCK" ]]; then
	rm -f "$CONTAINERD_SOCK_LINK"
fi
# Shim sockets nobody listens on any more (containerd 1.6 keeps them under /run/containerd/s).
if [[ -d /run/containerd/s ]]; then
	listening=$(ss -xlnH 2>/dev/null | awk '{print $5}')
	for s in /run/containerd/s/*; do
		[[ -S $s ]] && ! grep -qxF "$s" <<<"$listening" && rm -f "$s"
	done
fi
# Empty folders containerd, its shims and ctr leave there (s, fifo, runc/<namespace>).
[[ -d /run/containerd ]] && find /run/containerd -depth -mindepth 1 -type d -empty -delete 2>/dev/null
rmdir /run/containerd 2>/dev/null
# The pod cgroups, in every hierarchy (cgroup v1 and the unified one), deepest first.
for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
	[[ -d $h ]] || continue
	find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
	[[ -d $h ]] && problems+=("cgroup $h still in use")
done
if [[ -z $(mounts_under "$KUBELET_ROOT") ]]; then
	rm -rf --one-file-system "$KUBELET_ROOT" /var/log/pods /var/log/containers
fi
# libcni's cached results: our network's, and the loopback ones of our sandboxes (a sandbox
# id is its pause container's id; containerd keeps a folder per sandbox).
rm -rf "/var/lib/cni/networks/$CNI_NET" /var/lib/cni/results/"$CNI_NET"-*
for id in ${ids:-} $(ls "$NODE_DIR/containerd/root/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null); do
	rm -f /var/lib/cni/results/*-"$id"-*
done
rmdir /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null
if [[ -d $NODE_DIR && -z $(mounts_under "$NODE_DIR") ]]; then
	find "$NODE_DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf --one-file-system {} +
fi

# ---- anything left?
ip link show "$BRIDGE" >/dev/null 2>&1 && problems+=("bridge $BRIDGE still there")
for t in filter nat mangle; do
	iptables -w -t "$t" -S 2>/dev/null | grep -qE -- "$IPT_TAG|-N (SONDE|CNI)-|-N KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT)$" && problems+=("iptables $t: rules left")
done
[[ -e $KUBELET_ROOT ]] && problems+=("$KUBELET_ROOT still there")
if [[ ${#problems[@]} -gt 0 ]]; then
	printf 'node: down: %s\n' "${problems[@]}" >&2
	exit 1
fi
log "down in $(elapsed "$t0") s"
