#!/usr/bin/env bash
# Builds krew (sigs.k8s.io/krew/cmd/krew, pinned in this module's go.mod) as `kubectl-krew`, so
# that a PATH holding its directory makes `kubectl krew` work, and caches it keyed by the hash
# of go.mod, go.sum and this script: only the first run pays for the build (about a minute).
# Prints the directory holding kubectl-krew.
# Environment: KWF_CACHE_DIR (default ~/.cache/kwf) holds the binary and Go caches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KWF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kwf}
command -v go >/dev/null || { echo "krew: the Go toolchain is missing: install Go 1.25 or newer (https://go.dev/doc/install) and retry" >&2; exit 1; }
key=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
out="$cache/krew-$key"
if [ -x "$out/kubectl-krew" ]; then
  echo "$out"; exit 0
fi
version=$(awk '$1=="require" && $2=="sigs.k8s.io/krew"{print $3; exit}' "$here/go.mod")
pkg=sigs.k8s.io/krew/internal/version
ldflags="-s -w -X $pkg.gitTag=$version"
mkdir -p "$cache/logs" "$out.tmp"
log="$cache/logs/krew-build.log"
echo "krew: building krew $version into $out (first time only; log: $log)" >&2
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
if ! go build -trimpath -ldflags "$ldflags" -o "$out.tmp/kubectl-krew" sigs.k8s.io/krew/cmd/krew >>"$log" 2>&1; then
  echo "krew: go build sigs.k8s.io/krew/cmd/krew failed; see $log" >&2
  exit 1
fi
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
