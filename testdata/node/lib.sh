# Shared settings of the test node's scripts (sourced by up.sh, down.sh, image.sh).
# Everything here is fixed on purpose: the node is a host-wide resource, and a fixed layout
# lets down.sh clean up after any earlier run, also one that was killed.

NODE_DIR=${NODE_DIR:-/tmp/sonde-node}
SONDE_CACHE=${SONDE_CACHE:-$HOME/.cache/sonde}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
export NODE_DIR SONDE_CACHE KUBE_VERSION
NODE_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$NODE_SCRIPTS/../.." && pwd)

NODE_NAME=sonde-node
BRIDGE=sonde0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
SERVICE_VIP=10.96.0.1
CNI_NET=sonde              # CNI network name (host-local IPAM state, cache entries)
API_PORT=6443              # kube-apiserver, on NODE_IP only
ETCD_CLIENT_PORT=22379     # etcd, 127.0.0.1 only (non-default ports: other tests run etcd too)
ETCD_PEER_PORT=22380
KUBELET_PORT=10250         # on NODE_IP only
KUBELET_HEALTHZ_PORT=10248 # 127.0.0.1 only
CM_PORT=10257              # kube-controller-manager, 127.0.0.1 only
SCHED_PORT=10259           # kube-scheduler, 127.0.0.1 only
KUBELET_ROOT=/var/lib/kubelet
PAUSE_IMAGE=sonde.test/pause:dev
CTR_NS=k8s.io

CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock
CONTAINERD_SOCK_LINK=/run/containerd/containerd.sock # kubelet's cAdvisor looks only here
IPT_TAG=sonde-node         # comment on every iptables rule the node adds

# Host settings the kubelet and the CNI bridge plugin change: saved by up.sh, restored by
# down.sh.
HOST_SYSCTLS="net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

kbin() { echo "$SONDE_CACHE/bin/$1-$KUBE_VERSION"; }

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "12.3"
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}
log() { echo ">> node: $*" >&2; }
die() {
	echo "node: $*" >&2
	exit 1
}
