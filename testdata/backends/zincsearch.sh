#!/usr/bin/env bash
# Build ZincSearch (a search engine that speaks the Elasticsearch _bulk and _search APIs
# under /es/) from its Go module into the cache, and print the binary's path on stdout:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/zincsearch-VERSION
#
# Does nothing but print the path when that file already exists. Progress goes to stderr.
#
# Usage: testdata/backends/zincsearch.sh VERSION   (v0.4.10)
#
# The module zip lacks web/dist, the built web UI that embed.go embeds (`//go:embed web/dist`),
# so the build fails with "pattern web/dist: no matching files found". A placeholder
# index.html in a writable copy of the source lets it build; the tests use the API only.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 VERSION" >&2
	exit 2
fi
version=$1
module=github.com/zincsearch/zincsearch
go=${GO:-go}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/zincsearch-$version"

if [[ -x "$out" ]]; then
	echo "$out"
	exit 0
fi

log() { echo ">> zincsearch: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gobuild-zincsearch.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "downloading $module@$version"
if ! info=$(cd "$work" && GOWORK=off GOFLAGS= "$go" mod download -json "$module@$version"); then
	echo "zincsearch.sh: the module proxy refused $module@$version (use an exact version)" >&2
	exit 1
fi
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
	echo "zincsearch.sh: no module directory in the output of go mod download:" >&2
	printf '%s\n' "$info" >&2
	exit 1
fi

cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$cache/bin"
(
	cd "$work/src"
	rm -f go.work go.work.sum
	mkdir -p web/dist
	[[ -e web/dist/index.html ]] || echo '<!doctype html><title>ZincSearch (no UI in this build)</title>' >web/dist/index.html
	# github.com/pyroscope-io/godeltaprof v0.1.2 (its optional profiler's) declares the
	# runtime hooks it links to for Go < 1.22 only; the hooks are still there (the runtime
	# keeps them for this very package), so a copy with that build constraint lifted builds.
	gdp=$(GOWORK=off GOFLAGS= "$go" mod download -json github.com/pyroscope-io/godeltaprof@v0.1.2 |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	cp -r "$gdp" third_party-godeltaprof
	chmod -R u+w third_party-godeltaprof
	sed -i 's#^//go:build go1.16 && !go1.22$#//go:build go1.16#; s#^// +build go1.16,!go1.22$#// +build go1.16#' \
		third_party-godeltaprof/internal/pprof/stub.go
	"$go" mod edit -replace github.com/pyroscope-io/godeltaprof=./third_party-godeltaprof
	log "building ./cmd/zincsearch (a few minutes cold)"
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=${CGO_ENABLED:-0} \
		"$go" build -mod=mod -trimpath -ldflags='-s -w' -o "$out.tmp" ./cmd/zincsearch
)
mv "$out.tmp" "$out"
log "built $out"
echo "$out"
