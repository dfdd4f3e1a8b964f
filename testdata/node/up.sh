#!/usr/bin/env bash
# Bring up a real single-node Kubernetes cluster on this machine: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc, the CNI bridge, kubelet.
# It first runs down.sh, which removes whatever an earlier (failed or killed) run left.
# Waits until the node is Ready and schedulable, then writes $NODE_DIR/kubeconfig (admin)
# and $NODE_DIR/node.env. See README.md in this folder for the layout.
#
# Environment: NODE_DIR (default /tmp/sonde-node), SONDE_CACHE (default ~/.cache/sonde),
# KUBE_VERSION (default v1.37.2). Root only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$(now_ms)
[[ $(id -u) == 0 ]] || die "up.sh needs root"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
	[[ -x $(kbin "$b") ]] || die "$(kbin "$b") is missing: run make deps-node"
done
for c in containerd containerd-shim-runc-v2 runc ctr etcd openssl iptables ip jq curl go; do
	command -v "$c" >/dev/null || die "$c is missing: run make deps-node"
done
for p in bridge host-local loopback portmap; do
	[[ -x /usr/lib/cni/$p ]] || die "/usr/lib/cni/$p is missing: run make deps-node"
done

"$NODE_SCRIPTS/down.sh" >&2 || die "down.sh could not clear an earlier run"

PKI=$NODE_DIR/pki
mkdir -p "$NODE_DIR"/{pki,logs,pids,host,etcd,containerd,cni/net.d,cni/ipam,config}
rm -f "$NODE_DIR"/logs/*.log
chmod 700 "$PKI"

# Host settings the kubelet and the CNI bridge plugin change, for down.sh to put back.
for s in $HOST_SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done >"$NODE_DIR/host/sysctl"

# fail NAME: the last lines of a process's log, then exit.
fail() {
	local f=$NODE_DIR/logs/$1.log
	[[ -f $f ]] && { echo "---- $f (tail)" >&2; tail -40 "$f" >&2; }
	die "$2 (the node is left as it is for a look, logs in $NODE_DIR/logs; down.sh removes it)"
}
# start NAME COMMAND...: a daemon in its own session, output in logs/NAME.log, pid in pids/.
start() {
	local name=$1
	shift
	setsid "$@" </dev/null >"$NODE_DIR/logs/$name.log" 2>&1 &
	echo $! >"$NODE_DIR/pids/$name.pid"
}
alive() { kill -0 "$(cat "$NODE_DIR/pids/$1.pid")" 2>/dev/null; }
# wait_for NAME SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s while the processes
# started so far live; NAME is the one whose log tells most when it times out.
wait_for() {
	local name=$1 secs=$2 what=$3 i f
	shift 3
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		for f in "$NODE_DIR"/pids/*.pid; do
			f=${f##*/}
			alive "${f%.pid}" || fail "${f%.pid}" "${f%.pid} exited while waiting for $what"
		done
		sleep 0.2
	done
	fail "$name" "no $what within $secs s"
}
# render TEMPLATE OUT: replace @NAME@ with $NAME for the settings in lib.sh.
render() {
	local args=() v
	for v in NODE_DIR NODE_IP BRIDGE POD_CIDR CNI_NET PAUSE_IMAGE KUBELET_PORT KUBELET_HEALTHZ_PORT; do
		args+=(-e "s|@$v@|${!v}|g")
	done
	sed "${args[@]}" "$NODE_SCRIPTS/$1" >"$2"
}

# ---- network: the bridge (node IP), pod forwarding on it only, the kubernetes Service VIP
ip link add "$BRIDGE" type bridge
sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1"
ip addr add "$NODE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Service IPs stay on the bridge (never the default route), from the node IP.
ip route add "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
c=(-m comment --comment "$IPT_TAG")
iptables -w -N SONDE-FORWARD
iptables -w -A SONDE-FORWARD -i "$BRIDGE" -o "$BRIDGE" "${c[@]}" -j ACCEPT
iptables -w -A SONDE-FORWARD -i "$BRIDGE" "${c[@]}" -j DROP # pods reach nothing but the bridge
iptables -w -A SONDE-FORWARD -o "$BRIDGE" "${c[@]}" -j DROP
iptables -w -I FORWARD 1 "${c[@]}" -j SONDE-FORWARD
# kube-proxy's one job here: the kubernetes Service (10.96.0.1:443) to the API server, for
# pods (PREROUTING from the bridge) and for the host and hostNetwork pods (OUTPUT).
iptables -w -t nat -N SONDE-SERVICES
iptables -w -t nat -A SONDE-SERVICES -d "$SERVICE_VIP/32" -p tcp --dport 443 "${c[@]}" \
	-j DNAT --to-destination "$NODE_IP:$API_PORT"
iptables -w -t nat -I PREROUTING 1 -i "$BRIDGE" -d "$SERVICE_CIDR" "${c[@]}" -j SONDE-SERVICES
iptables -w -t nat -I OUTPUT 1 -d "$SERVICE_CIDR" "${c[@]}" -j SONDE-SERVICES

# ---- certificates: one CA for everything (clients, API server, kubelet serving)
ossl() { openssl "$@" 2>>"$NODE_DIR/logs/openssl.log"; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"; }
newkey ca
ossl req -x509 -new -key "$PKI/ca.key" -subj "/CN=sonde-node-ca" -days 3650 -sha256 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
	-out "$PKI/ca.crt"
# cert NAME SUBJECT USAGE [SANS]: a key and a certificate signed by the CA.
cert() {
	local name=$1 subj=$2 usage=$3 sans=${4:-}
	newkey "$name"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$usage"
		[[ -n $sans ]] && echo "subjectAltName=$sans"
	} >"$PKI/$name.ext"
	ossl req -new -key "$PKI/$name.key" -subj "$subj" |
		ossl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
			-days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt"
	rm -f "$PKI/$name.ext"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
	"IP:$NODE_IP,IP:$SERVICE_VIP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert admin "/O=system:masters/CN=sonde-admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
newkey sa
ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"

# kubeconfig OUT CERTNAME: a kubeconfig for the API server on the node IP, data embedded.
kubeconfig() {
	local b64=(base64 -w0)
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE_NAME
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority-data: $("${b64[@]}" "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $("${b64[@]}" "$PKI/$2.crt")
    client-key-data: $("${b64[@]}" "$PKI/$2.key")
contexts:
- name: $NODE_NAME
  context: {cluster: $NODE_NAME, user: $2}
current-context: $NODE_NAME
EOF
	chmod 600 "$1"
}
for n in admin kubelet-client controller-manager scheduler; do kubeconfig "$NODE_DIR/config/$n.kubeconfig" "$n"; done

# ---- etcd (tmpfs), API server
mount -t tmpfs -o size=1g,mode=0700 sonde-node-etcd "$NODE_DIR/etcd"
ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT
start etcd etcd --name sonde-node --data-dir "$NODE_DIR/etcd" \
	--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster "sonde-node=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn

start kube-apiserver "$(kbin kube-apiserver)" \
	--etcd-servers="$ETCD_URL" \
	--advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
	--service-cluster-ip-range="$SERVICE_CIDR" \
	--client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
	--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
	--allow-privileged=true --profiling=false --event-ttl=1h

# ---- containerd, the sandbox image, CNI
render containerd.toml "$NODE_DIR/config/containerd.toml"
render cni.conflist "$NODE_DIR/cni/net.d/10-$CNI_NET.conflist"
start containerd containerd --config "$NODE_DIR/config/containerd.toml"
wait_for containerd 30 "containerd's socket" ctr --address "$CONTAINERD_SOCK" version
# The kubelet's built-in cAdvisor finds containerd only here (REALNODE quirk 4).
if [[ ! -e $CONTAINERD_SOCK_LINK && ! -L $CONTAINERD_SOCK_LINK ]]; then
	mkdir -p "$(dirname "$CONTAINERD_SOCK_LINK")"
	ln -s "$CONTAINERD_SOCK" "$CONTAINERD_SOCK_LINK"
elif [[ $(readlink "$CONTAINERD_SOCK_LINK" || true) != "$CONTAINERD_SOCK" ]]; then
	log "warning: $CONTAINERD_SOCK_LINK is not ours: /metrics/cadvisor will lack pod and container labels"
fi
"$NODE_SCRIPTS/image.sh" pause 2>>"$NODE_DIR/logs/images.log" || fail images "the pause image"

# ---- kubelet
echo "nameserver 127.0.0.1" >"$NODE_DIR/resolv.conf"
render kubelet.yaml "$NODE_DIR/config/kubelet.yaml"
start kubelet "$(kbin kubelet)" \
	--config="$NODE_DIR/config/kubelet.yaml" \
	--kubeconfig="$NODE_DIR/config/kubelet-client.kubeconfig" \
	--hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
	--container-runtime-endpoint="unix://$CONTAINERD_SOCK" \
	--root-dir="$KUBELET_ROOT" --v=2

# ---- controller-manager, scheduler
wait_for kube-apiserver 120 "API server ready" curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
	"https://$NODE_IP:$API_PORT/readyz"
# The controller-manager and the scheduler exit when the API server's bootstrap RBAC
# roles are not there yet: start them once it is ready.
start kube-controller-manager "$(kbin kube-controller-manager)" \
	--kubeconfig="$NODE_DIR/config/controller-manager.kubeconfig" \
	--authentication-kubeconfig="$NODE_DIR/config/controller-manager.kubeconfig" \
	--authorization-kubeconfig="$NODE_DIR/config/controller-manager.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port="$CM_PORT" --leader-elect=false --controllers='*' \
	--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
	--use-service-account-credentials=true \
	--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
	--profiling=false

start kube-scheduler "$(kbin kube-scheduler)" \
	--kubeconfig="$NODE_DIR/config/scheduler.kubeconfig" \
	--authentication-kubeconfig="$NODE_DIR/config/scheduler.kubeconfig" \
	--authorization-kubeconfig="$NODE_DIR/config/scheduler.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false --profiling=false

api() {
	curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$NODE_IP:$API_PORT$1"
}
node_ready() {
	api "/api/v1/nodes/$NODE_NAME" | jq -e '
		([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length == 1)
		and ([.spec.taints[]? | select(.effect != "PreferNoSchedule")] | length == 0)'
}
wait_for kubelet 120 "node $NODE_NAME Ready and untainted" node_ready
wait_for kube-controller-manager 60 "the default ServiceAccount" api /api/v1/namespaces/default/serviceaccounts/default

cp "$NODE_DIR/config/admin.kubeconfig" "$NODE_DIR/kubeconfig"
cat >"$NODE_DIR/node.env" <<EOF
NODE_NAME=$NODE_NAME
NODE_IP=$NODE_IP
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
KUBERNETES_SERVICE_IP=$SERVICE_VIP
API_SERVER=https://$NODE_IP:$API_PORT
KUBECONFIG=$NODE_DIR/kubeconfig
CA_CERT=$PKI/ca.crt
ADMIN_CERT=$PKI/admin.crt
ADMIN_KEY=$PKI/admin.key
KUBELET_URL=https://$NODE_IP:$KUBELET_PORT
KUBELET_ROOT=$KUBELET_ROOT
POD_LOG_DIR=/var/log/pods
CONTAINERD_SOCK=$CONTAINERD_SOCK
CONTAINERD_NAMESPACE=$CTR_NS
PAUSE_IMAGE=$PAUSE_IMAGE
ETCD_URL=$ETCD_URL
KUBE_VERSION=$KUBE_VERSION
NODE_DIR=$NODE_DIR
NODE_SCRIPTS=$NODE_SCRIPTS
EOF
log "node $NODE_NAME ($NODE_IP) Ready in $(elapsed "$t0") s; KUBECONFIG=$NODE_DIR/kubeconfig, env in $NODE_DIR/node.env"
