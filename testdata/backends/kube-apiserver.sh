#!/usr/bin/env bash
# Build a real kube-apiserver for the Kubernetes tests into the cache, and print its path:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/kube-apiserver-VERSION
#
# Does nothing but print the path when that file already exists. Progress goes to stderr.
#
# Usage: testdata/backends/kube-apiserver.sh [VERSION]   (default v1.37.2)
#
# Why not gobuild.sh: k8s.io/kubernetes points every k8s.io/* staging module at ./staging/...,
# folders the module zip does not contain. Each of them is replaced here by the published
# module at the matching v0.X.Y (see shared/deps/NOTES.md). Environment: GO (default go).
set -euo pipefail

version=${1:-v1.37.2}
staging=v0.${version#v1.}
go=${GO:-go}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/kube-apiserver-$version"

if [[ -x "$out" ]]; then
	echo "$out"
	exit 0
fi

log() { echo ">> kube-apiserver: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gobuild-kube-apiserver.XXXXXX")
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
mkdir -p "$cache/bin"
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
	log "building ./cmd/kube-apiserver (about 10 minutes cold)"
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		"$go" build -mod=mod -trimpath -ldflags='-s -w' -o "$out.tmp" ./cmd/kube-apiserver
)
mv "$out.tmp" "$out"
log "built $out"
echo "$out"
