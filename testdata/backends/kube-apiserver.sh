#!/usr/bin/env bash
# Build the Kubernetes control plane and kubelet for the tests into the cache, and print the
# path of kube-apiserver:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/kube-apiserver-VERSION
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/kube-controller-manager-VERSION
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/kube-scheduler-VERSION
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/kubelet-VERSION
#
# One `go build` of the four commands shares the compile (the kubelet costs little more than
# the API server alone). Does nothing but print the path when all four exist. Progress goes to
# stderr.
#
# Usage: testdata/backends/kube-apiserver.sh [VERSION]   (default v1.37.2)
#
# Why not gobuild.sh: k8s.io/kubernetes points every k8s.io/* staging module at ./staging/...,
# folders the module zip does not contain. Each of them is replaced here by the published
# module at the matching v0.X.Y (see shared/deps/NOTES.md). The version is stamped with -X, or
# the binaries report v0.0.0-master, which kubectl and helm cannot parse. Environment: GO
# (default go).
set -euo pipefail

version=${1:-v1.37.2}
staging=v0.${version#v1.}
go=${GO:-go}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

have=1
for c in "${cmds[@]}"; do [[ -x "$cache/bin/$c-$version" ]] || have=0; done
if [[ $have == 1 ]]; then
	echo "$cache/bin/kube-apiserver-$version"
	exit 0
fi

log() { echo ">> kubernetes: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gobuild-kubernetes.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "downloading k8s.io/kubernetes@$version"
if ! info=$(cd "$work" && GOWORK=off GOFLAGS= "$go" mod download -json "k8s.io/kubernetes@$version"); then
	echo "kube-apiserver.sh: the module proxy refused k8s.io/kubernetes@$version" >&2
	exit 1
fi
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
	echo "kube-apiserver.sh: no module directory in the output of go mod download:" >&2
	printf '%s\n' "$info" >&2
	exit 1
fi

cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$cache/bin" "$work/out"
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
	ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
(
	cd "$work/src"
	rm -f go.work go.work.sum
	# Every "k8s.io/X => ./staging/src/k8s.io/X" line becomes "k8s.io/X => k8s.io/X@v0.Y.Z".
	mods=$(GOWORK=off "$go" mod edit -json | sed -n 's|.*"Path": "\./staging/src/\(k8s\.io/[^"]*\)".*|\1|p' | sort -u)
	edits=()
	for m in $mods; do
		edits+=("-replace=$m=$m@$staging")
	done
	if [[ ${#edits[@]} -eq 0 ]]; then
		echo "kube-apiserver.sh: found no ./staging replace directives in go.mod" >&2
		exit 1
	fi
	log "replacing ${#edits[@]} staging modules with their published $staging"
	GOWORK=off "$go" mod edit "${edits[@]}"
	pkgs=()
	for c in "${cmds[@]}"; do pkgs+=("./cmd/$c"); done
	log "building ${cmds[*]} (about 10-20 minutes cold)"
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		"$go" build -mod=mod -trimpath -ldflags="$ldflags" -o "$work/out/" "${pkgs[@]}"
)
for c in "${cmds[@]}"; do
	mv "$work/out/$c" "$cache/bin/$c-$version"
	log "built $cache/bin/$c-$version"
done
echo "$cache/bin/kube-apiserver-$version"
