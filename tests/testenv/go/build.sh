#!/usr/bin/env bash
# Builds the control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kubectl, etcd) from this Go module and caches them keyed by the hash of go.mod, go.sum and the
# launcher's source, so that only the first run pays for the build (tens of minutes on
# 2 cores). Prints the directory holding the binaries.
# Environment: KWF_CACHE_DIR (default ~/.cache/kwf) holds the binaries and Go caches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KWF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kwf}
release=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")
minor=$(echo "$release" | cut -d. -f2)
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$release -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
# What is built: the etcd launcher of this module and the upstream commands. The real node needs
# kubelet (run beside containerd) and kube-scheduler (pods placed by selectors and affinity).
targets="./cmd/etcd k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet"
# The key covers everything that shapes the binaries: the module graph, the launcher, the flags, the targets.
key=$( (cat "$here/go.mod" "$here/go.sum" "$here"/cmd/*/*.go; echo "$ldflags"; echo "$targets") | sha256sum | cut -c1-16)
out="$cache/bin-$key"
complete=yes
for target in $targets; do [ -x "$out/$(basename "$target")" ] || complete=no; done
if [ "$complete" = yes ]; then
  echo "$out"; exit 0
fi
command -v go >/dev/null || { echo "testenv: the Go toolchain is missing: install Go 1.25 or newer (https://go.dev/doc/install) and retry" >&2; exit 1; }
mkdir -p "$cache/logs" "$out.tmp"
log="$cache/logs/go-build.log"
echo "testenv: building Kubernetes $release control-plane binaries into $out (first time only; log: $log)" >&2
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
for target in $targets; do
  name=$(basename "$target")
  echo "testenv: go build $target" >&2
  if ! go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$name" "$target" >>"$log" 2>&1; then
    echo "testenv: go build $target failed; see $log" >&2
    exit 1
  fi
done
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
