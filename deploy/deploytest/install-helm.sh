#!/usr/bin/env bash
# Install helm for the deploy tests into the cache, and print its path:
#
#   ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/helm-VERSION
#
# Does nothing but print the path when that file already exists. Progress goes to stderr.
# helm is a Go module with no replace directives, so a plain `go install` from the module
# proxy builds it (about 3 minutes cold on 2 cores; see shared/deps/NOTES.md).
#
# Usage: deploy/deploytest/install-helm.sh [VERSION]   (default v3.22.0)
# Environment: GO (default go), SONDE_CACHE.
set -euo pipefail

version=${1:-v3.22.0}
go=${GO:-go}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
out="$cache/bin/helm-$version"

if [[ -x "$out" ]]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/install-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo ">> helm: go install helm.sh/helm/v3/cmd/helm@$version" >&2
# Outside any module (GOWORK=off, a scratch directory) so the repository's go.mod is not
# consulted; GOBIN receives the binary, which is then given its versioned name.
(cd "$work" && GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$work/bin" \
	"$go" install -trimpath -ldflags='-s -w' "helm.sh/helm/v3/cmd/helm@$version")
mkdir -p "$cache/bin"
mv "$work/bin/helm" "$out.tmp"
mv "$out.tmp" "$out"
echo ">> helm: installed $out" >&2
echo "$out"
