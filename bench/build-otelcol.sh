#!/usr/bin/env bash
# Build the OpenTelemetry Collector distribution of bench/otelcol/builder-config.yaml (otlp
# receiver, memory_limiter, batch, otlp exporter at v0.162.0) into the cache:
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/otelcol-VERSION
# and print its path. Does nothing when that binary is already there.
#
# The collector builder (go.opentelemetry.io/collector/cmd/builder, the same version as the
# components) is installed into a temporary GOBIN, generates the distribution's main package
# and go.mod in a temporary directory and compiles it (a few minutes on 2 cores).
#
# Usage: bench/build-otelcol.sh [VERSION]   (default v0.162.0: the components' version in the
# manifest; the builder of that version is used)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${1:-v0.162.0}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/otelcol-$version"
manifest=$here/otelcol/builder-config.yaml

if [[ -x "$out" ]]; then
	echo "$out"
	exit 0
fi
if ! grep -q " $version\$" "$manifest"; then
	echo "build-otelcol: $manifest does not pin its components at $version" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo ">> installing go.opentelemetry.io/collector/cmd/builder@$version" >&2
GOBIN=$work/bin GOFLAGS=-buildvcs=false go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2

# The manifest's output_path is relative: the sources are generated under $work/build.
sed "s|^\(  output_path:\).*|\1 $work/build|" "$manifest" >"$work/builder-config.yaml"
echo ">> generating and compiling the distribution (a few minutes)" >&2
(
	cd "$work"
	# Symbols are kept (no -s -w): the binary can be profiled like sonde's.
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		"$work/bin/builder" --config "$work/builder-config.yaml" --ldflags="" >&2
)
mkdir -p "$cache/bin"
mv "$work/build/otelcol-bench" "$out.tmp"
mv "$out.tmp" "$out"
echo ">> built $out" >&2
echo "$out"
