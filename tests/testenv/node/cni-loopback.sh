#!/bin/sh
# kwf-loopback: the real node's CNI plugin. A pod gets an isolated network namespace with only `lo` up and
# the pod IP 127.0.0.1: nothing it sends can leave it (no traffic off loopback, ever).
# ADD brings lo up in the pod's namespace and reports 127.0.0.1/8; DEL, CHECK, GC and STATUS have nothing to
# undo or check; VERSION lists the spec versions this output is valid for.
set -eu
cat >/dev/null # the network configuration on stdin: nothing in it changes what we do
case "${CNI_COMMAND:-}" in
ADD)
  if command -v ip >/dev/null 2>&1; then
    nsenter --net="$CNI_NETNS" ip link set lo up
  else
    nsenter --net="$CNI_NETNS" busybox ip link set lo up
  fi
  printf '{"cniVersion":"1.0.0","ips":[{"address":"127.0.0.1/8"}],"dns":{}}\n'
  ;;
DEL | CHECK | GC | STATUS) ;;
VERSION)
  printf '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}\n'
  ;;
*)
  printf '{"cniVersion":"1.0.0","code":4,"msg":"kwf-loopback: unknown CNI_COMMAND %s"}\n' "${CNI_COMMAND:-}"
  exit 1
  ;;
esac
