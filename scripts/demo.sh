#!/usr/bin/env bash
# `make demo`: agentcage end to end on this machine, in a few minutes, leaving nothing behind.
#   1. installs what is missing (podman, dnsmasq, iptables, the podman config; says what it changes)
#   2. builds the images locally (make images; no registry needed)
#   3. a stand-in internet, a demo cage, a scripted agent inside it, the proxy's decisions, cleanup
# Needs root (podman rootful, host firewall rules for the cage bridge): run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "demo: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo -E bash "$0" "$@"; fi
  say "needs root (rootful podman and host firewall rules): run it as root" >&2
  exit 1
fi

missing=()
for tool in podman runc dnsmasq iptables ip6tables ip nsenter; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ] || [ ! -e /etc/containers/containers.conf ]; then
  say "missing: ${missing[*]:-} ${missing[*]:+and }$( [ -e /etc/containers/containers.conf ] || echo /etc/containers/containers.conf): installing"
  bash scripts/install-system-deps.sh
else
  say "system packages present (podman $(podman --version | awk '{print $3}'))"
fi
if [ ! -d node_modules ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

say "building images (make images)"
t_img=$(date +%s)
bash scripts/build-images.sh | sed 's/^/    /'
say "images ready in $(($(date +%s) - t_img)) s"

node_modules/.bin/tsx scripts/demo/run-demo.ts
say "total wall time $(($(date +%s) - t0)) s"
