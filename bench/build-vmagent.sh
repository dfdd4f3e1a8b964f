#!/usr/bin/env bash
# Build vmagent (VictoriaMetrics' scraping agent) from its Go module into the cache:
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/vmagent-VERSION
# Does nothing when that binary is already there.
#
# `go install module@version` refuses VictoriaMetrics (its go.mod has replace directives), so:
# download the module zip through the module proxy, copy it somewhere writable and build
# ./app/vmagent inside it with -mod=mod.
#
# Usage: bench/build-vmagent.sh [VERSION]   (default v1.129.1, which downloads from this proxy)
set -euo pipefail

module=github.com/VictoriaMetrics/VictoriaMetrics
version=${1:-v1.129.1}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/vmagent-$version"

if [[ -x "$out" ]]; then
	echo ">> vmagent $version already built: $out"
	exit 0
fi

echo ">> downloading $module@$version"
if ! info=$(go mod download -json "$module@$version"); then
	printf '%s\n' "$info" | grep '"Error"' >&2 || true
	echo "build-vmagent: could not download $module@$version (the proxy may refuse it)" >&2
	echo "build-vmagent: try an exact tag, for example: $0 v1.129.1" >&2
	exit 1
fi
# The JSON has a "Dir" field: where the extracted, read-only module lives.
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
	echo "build-vmagent: no module directory in go mod download output:" >&2
	printf '%s\n' "$info" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vmagent-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"

echo ">> building ./app/vmagent (about a minute)"
mkdir -p "$cache/bin"
(
	cd "$work/src"
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		go build -mod=mod -trimpath \
		-ldflags "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=vmagent-$version" \
		-o "$out.tmp" ./app/vmagent
)
mv "$out.tmp" "$out"
echo ">> built $out"
"$out" -version 2>/dev/null || true
