#!/usr/bin/env bash
# Build a binary from a Go module that `go install module@version` refuses (its go.mod has
# replace directives) into the cache, and print the binary's path on stdout:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/NAME-VERSION
#
# Does nothing but print the path when that file already exists. Progress goes to stderr.
#
# Usage: testdata/backends/gobuild.sh NAME MODULE VERSION PKG [DROPREPLACE_MODULE...]
#   NAME        binary name in the cache (loki, promtail, tempo, jaeger, vmagent, …)
#   MODULE      module path, e.g. github.com/grafana/loki/v3
#   VERSION     exact version (the proxy often refuses @latest and version lists)
#   PKG         package inside the module, e.g. cmd/loki or ./cmd/loki
#   DROPREPLACE modules whose replace directive points at a folder the module zip lacks
#
# Example (Loki for the end-to-end tests):
#   testdata/backends/gobuild.sh loki github.com/grafana/loki/v3 v3.7.8 cmd/loki \
#       github.com/grafana/loki/pkg/push
#
# Recipe (see shared/deps/NOTES.md): `go mod download -json MODULE@VERSION`, copy the
# read-only module directory somewhere writable, drop the broken replace directives, then
# `go build -mod=mod` inside it (stripped, -trimpath). Environment: GO (default go),
# CGO_ENABLED (default 0).
set -euo pipefail

if [[ $# -lt 4 ]]; then
	echo "usage: $0 NAME MODULE VERSION PKG [DROPREPLACE_MODULE...]" >&2
	exit 2
fi
name=$1 module=$2 version=$3 pkg=$4
shift 4
go=${GO:-go}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/$name-$version"

if [[ -x "$out" ]]; then
	echo "$out"
	exit 0
fi

log() { echo ">> $name: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gobuild-$name.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "downloading $module@$version"
# From an empty directory, so that no surrounding go.mod is looked at or touched.
if ! info=$(cd "$work" && GOWORK=off GOFLAGS= "$go" mod download -json "$module@$version"); then
	echo "gobuild: the module proxy refused $module@$version (use an exact version)" >&2
	exit 1
fi
# The JSON has a "Dir" field: where the extracted, read-only module lives.
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
	echo "gobuild: no module directory in the output of go mod download:" >&2
	printf '%s\n' "$info" >&2
	exit 1
fi

cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"

pkg=./${pkg#./}
mkdir -p "$cache/bin"
(
	cd "$work/src"
	rm -f go.work go.work.sum
	for m in "$@"; do
		log "dropping replace $m"
		"$go" mod edit -dropreplace "$m"
	done
	log "building $pkg (can take 10 minutes cold)"
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=${CGO_ENABLED:-0} \
		"$go" build -mod=mod -trimpath -ldflags='-s -w' -o "$out.tmp" "$pkg"
)
mv "$out.tmp" "$out"
log "built $out"
echo "$out"
