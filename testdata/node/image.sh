#!/usr/bin/env bash
# Images of the test node, all built here (no registry). Every image but the base tarball
# goes into the running node's containerd (namespace k8s.io, socket from $NODE_DIR), which
# is where the kubelet finds them (imagePullPolicy: Never / IfNotPresent).
#
#   image.sh base                  Debian bookworm minbase + ca-certificates as a rootfs
#                                  tarball, $SONDE_CACHE/images/debian-bookworm-minbase.tar.gz
#                                  (debootstrap, about 4 minutes, built once; prints the path).
#                                  Needs no running node.
#   image.sh scratch NAME BINARY   a static BINARY on scratch as /NAME (the entrypoint):
#                                  image sonde.test/NAME:dev
#   image.sh pause                 deploy/nodetest/apps/pause on scratch: sonde.test/pause:dev,
#                                  containerd's sandbox image (up.sh imports it)
#   image.sh debian                the base tarball as an image: sonde.test/debian:bookworm
#                                  (a shell, coreutils, ca-certificates)
#   image.sh sonde [BINARY]        sonde's image, sonde.test/sonde:dev, from the project's
#                                  Dockerfile: its runtime stage on the base tarball with a
#                                  prebuilt binary (default: `make build`, bin/sonde), built by
#                                  a private dockerd started for the build and stopped after it
#
# Environment: NODE_DIR (default /tmp/sonde-node), SONDE_CACHE (default ~/.cache/sonde),
# DEBIAN_MIRROR (default: the bookworm mirror in apt's sources).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES=$SONDE_CACHE/images
BASE_TAR=$IMAGES/debian-bookworm-minbase.tar.gz
DOCKER=/usr/bin/docker # Debian's docker.io CLI (20.10, built-in BuildKit client); a newer CLI elsewhere on PATH wants buildx

usage() {
	sed -n '2,/^set -e/p' "$0" | sed -e '/^set -e/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

tmpdirs=()
cleanup() {
	local d
	for d in "${tmpdirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
# mktmp VAR: a temporary folder, removed when the script exits, in VAR.
mktmp() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/sonde-image.XXXXXX")
	tmpdirs+=("$d")
	printf -v "$1" '%s' "$d"
}

debian_mirror() {
	if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	local m
	# deb822 sources: the URIs of the stanza whose Suites include bookworm.
	m=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ && /Types:[^\n]*deb([ \n]|$)/ {
		if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	if [[ -z "$m" ]]; then
		m=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

cmd_base() {
	if [[ -s "$BASE_TAR" ]]; then
		echo "$BASE_TAR"
		return
	fi
	command -v debootstrap >/dev/null || die "debootstrap is missing (make deps-node)"
	local t0 tmp mirror
	t0=$(now_ms)
	mktmp tmp
	mirror=$(debian_mirror)
	log "debootstrap --variant=minbase bookworm from $mirror (about 4 minutes)"
	if ! debootstrap --variant=minbase --include=ca-certificates bookworm "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -30 "$tmp/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	# What a container runtime provides, what only the build used, and documentation (as in
	# debian:bookworm-slim).
	(cd "$tmp/root" && rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* \
		var/log/* var/cache/debconf/*-old etc/resolv.conf etc/hostname dev/* proc/* sys/* tmp/* \
		usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/*)
	[[ -s "$tmp/root/etc/ssl/certs/ca-certificates.crt" ]] || die "base image: no ca-certificates bundle"
	mkdir -p "$IMAGES"
	tar --numeric-owner --sort=name -C "$tmp/root" -czf "$BASE_TAR.tmp" .
	mv "$BASE_TAR.tmp" "$BASE_TAR"
	log "base image $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1)) in $(elapsed "$t0") s"
	echo "$BASE_TAR"
}

ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace "$CTR_NS" "$@"; }

need_containerd() {
	[[ -S "$CONTAINERD_SOCK" ]] || die "no containerd at $CONTAINERD_SOCK: bring the node up first (testdata/node/up.sh)"
}

# import_layer REF LAYER ENTRYPOINT_JSON: one-layer image (LAYER: a tar, gzipped or not) in
# the Docker archive format, imported into the node's containerd.
import_layer() {
	local ref=$1 layer=$2 entrypoint=$3 tmp diffid cfg cfgsum
	need_containerd
	mktmp tmp
	ln -s "$(realpath "$layer")" "$tmp/layer.tar"
	if gzip -t "$layer" 2>/dev/null; then
		diffid=$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)
	else
		diffid=$(sha256sum <"$layer" | cut -d' ' -f1)
	fi
	cfg=$(printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"testdata/node/image.sh"}]}' "$entrypoint" "$diffid")
	cfgsum=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	printf '%s' "$cfg" >"$tmp/$cfgsum.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfgsum" "$ref" >"$tmp/manifest.json"
	tar -C "$tmp" -chf - manifest.json "$cfgsum.json" layer.tar | ctr_ images import - >/dev/null
	log "image $ref"
}

cmd_scratch() {
	[[ $# == 2 ]] || usage
	local name=$1 bin=$2 tmp
	[[ -x "$bin" ]] || die "scratch: $bin is not an executable"
	if file -L "$bin" 2>/dev/null | grep -q 'dynamically linked'; then
		die "scratch: $bin is dynamically linked; build it with CGO_ENABLED=0"
	fi
	mktmp tmp
	mkdir -p "$tmp/root/tmp"
	chmod 1777 "$tmp/root/tmp"
	cp "$bin" "$tmp/root/$name"
	tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$tmp/root" -cf "$tmp/layer.tar" .
	import_layer "sonde.test/$name:dev" "$tmp/layer.tar" "[\"/$name\"]"
}

cmd_pause() {
	local tmp
	mktmp tmp
	(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp/pause" ./deploy/nodetest/apps/pause)
	cmd_scratch pause "$tmp/pause"
}

cmd_debian() {
	[[ -s "$BASE_TAR" ]] || die "no base tarball $BASE_TAR: run image.sh base (make deps-node)"
	import_layer sonde.test/debian:bookworm "$BASE_TAR" '["/bin/sh"]'
}

# dockerd for one build: its own data root, exec root and socket; no bridge, no iptables,
# no forwarding; stopped (and its folder removed) when the script exits.
dockerd_pid=
dockerd_root=
dockerd_key= # /etc/docker/key.json when this dockerd wrote it (dockerd 20.10 cannot put it elsewhere)
dockerd_cgroups= # the cgroup v1 "docker" folders when this dockerd made them (the build's RUN steps)
dockerd_rundirs=() # /run/docker (plugins) and /run/runc (BuildKit's runc) when this dockerd made them
stop_dockerd() {
	if [[ -n "$dockerd_pid" ]]; then
		kill "$dockerd_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$dockerd_pid" 2>/dev/null || true
		dockerd_pid=
	fi
	if [[ -n "$dockerd_root" ]]; then
		# overlay and shm mounts a killed dockerd may leave, deepest first
		awk -v r="$dockerd_root/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
		rm -rf "$dockerd_root"
		dockerd_root=
	fi
	if [[ -n "$dockerd_key" ]]; then
		rm -f "$dockerd_key"
		dockerd_key=
	fi
	local d
	for d in "${dockerd_rundirs[@]}"; do
		[[ -d $d ]] && find "$d" -depth -type d -empty -delete 2>/dev/null
	done
	dockerd_rundirs=()
	if [[ -n "$dockerd_cgroups" ]]; then
		local h
		for h in /sys/fs/cgroup/*/docker; do
			[[ -d $h ]] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		dockerd_cgroups=
	fi
}
start_dockerd() {
	local d
	command -v dockerd >/dev/null && [[ -x $DOCKER ]] || die "dockerd or $DOCKER missing (make deps-node installs docker.io)"
	dockerd_root=$(mktemp -d "${TMPDIR:-/tmp}/sonde-dockerd.XXXXXX")
	trap 'stop_dockerd; cleanup' EXIT
	echo '{}' >"$dockerd_root/daemon.json"
	[[ -e /etc/docker/key.json ]] || dockerd_key=/etc/docker/key.json
	compgen -G '/sys/fs/cgroup/*/docker' >/dev/null || dockerd_cgroups=1
	for d in /run/docker /run/runc; do [[ -e $d ]] || dockerd_rundirs+=("$d"); done
	dockerd --config-file "$dockerd_root/daemon.json" \
		--data-root "$dockerd_root/data" --exec-root "$dockerd_root/exec" \
		--pidfile "$dockerd_root/dockerd.pid" --host "unix://$dockerd_root/docker.sock" \
		--bridge=none --iptables=false --ip-masq=false --ip-forward=false \
		--storage-driver=overlay2 --log-level=warn >"$dockerd_root/dockerd.log" 2>&1 &
	dockerd_pid=$!
	export DOCKER_HOST=unix://$dockerd_root/docker.sock
	for _ in $(seq 300); do
		"$DOCKER" version >/dev/null 2>&1 && return
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dockerd_root/dockerd.log" >&2
	die "dockerd did not start"
}

cmd_sonde() {
	local bin=${1:-} t0 ctx
	t0=$(now_ms)
	need_containerd
	[[ -s "$BASE_TAR" ]] || die "no base tarball $BASE_TAR: run image.sh base (make deps-node)"
	if [[ -z "$bin" ]]; then
		make -s -C "$REPO_ROOT" build >&2
		bin=$REPO_ROOT/bin/sonde
	fi
	[[ -x "$bin" ]] || die "sonde: $bin is not an executable"
	mktmp ctx
	cp "$bin" "$ctx/sonde"
	start_dockerd
	"$DOCKER" import "$BASE_TAR" sonde.test/base:bookworm >/dev/null
	# The runtime stage of the project's Dockerfile, on the base, with the binary from the
	# context; BuildKit builds only the stages that stage needs (not the golang one).
	if ! DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network=none -f "$REPO_ROOT/Dockerfile" \
		--build-arg BASE_IMAGE=sonde.test/base:bookworm --build-arg SONDE_BINARY=prebuilt \
		-t sonde.test/sonde:dev "$ctx" >"$ctx/build.log" 2>&1; then
		cat "$ctx/build.log" >&2
		die "docker build failed"
	fi
	"$DOCKER" save sonde.test/sonde:dev | ctr_ images import - >/dev/null
	stop_dockerd
	log "image sonde.test/sonde:dev in $(elapsed "$t0") s"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
base) cmd_base "$@" ;;
scratch) cmd_scratch "$@" ;;
pause) cmd_pause "$@" ;;
debian) cmd_debian "$@" ;;
sonde) cmd_sonde "$@" ;;
*) usage ;;
esac
