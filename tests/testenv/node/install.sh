#!/bin/sh
# Installs what the real node of the test control plane runs: containerd (with ctr), runc, and Debian's
# busybox-static (the busybox image is built from it). Run as root on Debian/Ubuntu; testenv runs it when
# one of them is missing. Package lists are refreshed only when the first install cannot find a package.
set -eu
packages="containerd runc busybox-static"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $packages ||
  { apt-get update && apt-get install -y --no-install-recommends $packages; }
