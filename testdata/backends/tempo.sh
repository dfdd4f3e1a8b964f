#!/usr/bin/env bash
# Build Tempo for the OTLP end-to-end tests into the cache, and print its path:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/tempo-VERSION
#
# Usage: testdata/backends/tempo.sh [VERSION]
#
# The default is Tempo 2.9.0: its tag is not a valid Go module version for the
# github.com/grafana/tempo module (no /v2 suffix), so the pseudo-version of that commit is
# used. Does nothing but print the path when the binary is already there (about 5 minutes
# cold on 2 cores otherwise). exporters/otelcol/oteltest.TempoVersion must match.
set -euo pipefail
version=${1:-v1.5.1-0.20251008140505-607c7fb69662}
exec "$(dirname "$0")/gobuild.sh" tempo github.com/grafana/tempo "$version" cmd/tempo
