#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v4/cmd/helm, pinned in this module's go.mod) and caches it keyed by the
# hash of go.mod, go.sum and this script (which holds the flags): only the first run pays for the
# build (a few minutes on 2 cores). Prints the directory holding helm.
# A Go module of its own: helm v4 brings the k8s.io modules at v0.36, the control plane's (../go) 1.35.
# Environment: KWF_CACHE_DIR (default ~/.cache/kwf) holds the binary and the build log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KWF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kwf}
key=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
out="$cache/helm-$key"
if [ -x "$out/helm" ]; then
  echo "$out"; exit 0
fi
# One build at a time (tests and `cargo xtask dist --chart` may ask at once): the others wait for it.
mkdir -p "$cache/logs"
exec 9>"$cache/helm-build.lock"
flock 9
if [ -x "$out/helm" ]; then
  echo "$out"; exit 0
fi
command -v go >/dev/null || { echo "helm: the Go toolchain is missing: install Go 1.26 or newer (https://go.dev/doc/install) and retry" >&2; exit 1; }
version=$(awk '$1=="require" && $2=="helm.sh/helm/v4"{print $3; exit}' "$here/go.mod")
pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.gitTreeState=clean"
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
log="$cache/logs/helm-build.log"
echo "helm: building helm $version into $out (first time only; log: $log)" >&2
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
if ! go build -trimpath -ldflags "$ldflags" -o "$out.tmp/helm" helm.sh/helm/v4/cmd/helm >>"$log" 2>&1; then
  echo "helm: go build helm.sh/helm/v4/cmd/helm failed; see $log" >&2
  exit 1
fi
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
