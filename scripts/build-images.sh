#!/usr/bin/env bash
# Builds agentcage's images with podman, pulling nothing (`make images`).
#   scripts/build-images.sh [--rebuild] [--only NAME[,NAME...]]
#     --rebuild   rebuild the local base images too (otherwise an existing base is reused)
#     --only      build only some of: proxy, operator, dns, agent-demo (bases are built as needed)
# Images (all localhost/, built with --pull=never):
#   agentcage-node-base:20          FROM scratch: host's /usr/bin/node + its libs, user cage 10001
#   agentcage-debian-base:bookworm  debootstrap minbase + iptables iproute2 dnsmasq-base curl ...
#   agentcage-proxy:dev             proxy-image/Containerfile, bundle build/proxy/*.mjs
#   agentcage-operator:dev          operator/Containerfile, bundle build/operator/agentcage.mjs
#   agentcage-dns:dev               dns-image/Containerfile (dnsmasq, JSON audit on stdout, :5353)
#   agentcage-agent-demo:dev        scripts/images/agent-demo.Containerfile (debian + node 20)
# Environment:
#   AGENTCAGE_USE_REGISTRY=1   first try the pinned upstream bases (5 s timeout each), else local
#   AGENTCAGE_PROXY_ENTRY=F    bundle F instead of proxy-image/src/main.ts
#   DEBIAN_MIRROR=URL          debootstrap mirror (default: the machine's apt sources)
# Exits non-zero when any image fails to build.
set -euo pipefail
cd "$(dirname "$0")/.."

rebuild=0
only=proxy,operator,dns,agent-demo
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=1 ;;
    --only)
      only=$2
      shift
      ;;
    --only=*) only=${1#--only=} ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    *)
      echo "build-images: unknown argument: $1" >&2
      exit 2
      ;;
  esac
  shift
done
wants() { [[ ",$only," == *",$1,"* ]]; }

NODE_BASE=localhost/agentcage-node-base:20
DEBIAN_BASE=localhost/agentcage-debian-base:bookworm
PROXY=localhost/agentcage-proxy:dev
OPERATOR=localhost/agentcage-operator:dev
DNS=localhost/agentcage-dns:dev
AGENT=localhost/agentcage-agent-demo:dev
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

say() { echo "build-images: $*"; }
die() {
  echo "build-images: $*" >&2
  exit 1
}
command -v podman >/dev/null || die "podman is missing: run scripts/install-system-deps.sh"

t_all=$(date +%s.%N)
built=()   # "image status seconds"
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

work=$(mktemp -d /tmp/agentcage-images.XXXXXX)
cleanup() {
  # debootstrap mounts proc/sys inside its target; never delete through a mount.
  if [ -d "$work/debian" ]; then
    for m in proc sys dev/pts dev; do umount -l "$work/debian/$m" 2>/dev/null || true; done
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# podman build, quiet when it works, its whole log when it does not.
pbuild() {
  local log=$work/build.log
  if ! podman build --pull=never "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "podman build $* failed (log above)"
  fi
}

# ---- bases: pinned upstream images if asked and reachable, else built locally ----
arg_default() { sed -n "s/^ARG $2=//p" "$1" | head -n1; }
proxy_base=$NODE_BASE
dns_base=$DEBIAN_BASE
if [ "${AGENTCAGE_USE_REGISTRY:-0}" = 1 ]; then
  up_node=$(arg_default proxy-image/Containerfile BASE)
  if timeout 5 podman pull -q "$up_node" >/dev/null 2>&1; then
    say "registry reachable: proxy on $up_node"
    proxy_base=$up_node
  else
    say "registry not reachable in 5 s ($up_node): using local bases"
  fi
else
  say "no container registry is reachable here (set AGENTCAGE_USE_REGISTRY=1 to try the pinned upstream bases): building local bases"
fi

need_node_base=0
need_debian_base=0
# The operator runs on the same Node base as the proxy.
if { wants proxy || wants operator; } && [ "$proxy_base" = "$NODE_BASE" ]; then need_node_base=1; fi
if wants agent-demo; then
  need_node_base=1
  need_debian_base=1
fi
if wants dns && [ "$dns_base" = "$DEBIAN_BASE" ]; then need_debian_base=1; fi

build_node_base() {
  local t rootfs lib
  t=$(date +%s.%N)
  say "building $NODE_BASE from the host's $(command -v node) ($(node --version))"
  rootfs=$work/node/rootfs
  mkdir -p "$rootfs"/{usr/bin,usr/local/bin,etc/ssl/certs,tmp}
  cp -L "$(command -v node)" "$rootfs/usr/bin/node"
  ln -s /usr/bin/node "$rootfs/usr/local/bin/node"
  # Every library ldd names, at the path ldd names (the ELF interpreter path is fixed).
  ldd "$rootfs/usr/bin/node" | awk '/=> \//{ print $3 } /^\t\//{ print $1 }' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\ncage:x:10001:10001:agentcage:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\ncage:x:10001:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$rootfs/tmp"
  pbuild -f scripts/images/node-base.Containerfile -t "$NODE_BASE" "$work/node"
  podman run --rm --pull=never --user 10001 "$NODE_BASE" /usr/bin/node -e 'process.exit(require("os").userInfo().username === "cage" ? 0 : 1)' ||
    die "$NODE_BASE: node does not run in it"
  built+=("$NODE_BASE built $(elapsed "$t")")
}

apt_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local m=''
  # deb822 (.sources): the URIs of a stanza whose Suites include plain "bookworm".
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    m=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
          if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1
          if ($i ~ /^Enabled:[ \t]*no/) ok = 0
        }
        if (ok && uri != "") { print uri; exit } }' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) == "bookworm") { print $i; exit } break } }' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

build_debian_base() {
  local t dir mirror
  t=$(date +%s.%N)
  command -v debootstrap >/dev/null || die "debootstrap is missing: run scripts/install-system-deps.sh"
  mirror=$(apt_mirror)
  dir=$work/debian
  say "building $DEBIAN_BASE with debootstrap from $mirror (30-60 s)"
  if ! debootstrap --variant=minbase \
    --include=iptables,iproute2,dnsmasq-base,curl,ca-certificates,bind9-dnsutils,netcat-openbsd \
    bookworm "$dir" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  # Slim it and drop what describes the build host.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/* "$dir"/debootstrap
  rm -f "$dir"/etc/resolv.conf "$dir"/etc/hostname
  grep -q '^cage:' "$dir/etc/passwd" || {
    echo 'cage:x:10001:10001:agentcage:/nonexistent:/usr/sbin/nologin' >>"$dir/etc/passwd"
    echo 'cage:x:10001:' >>"$dir/etc/group"
  }
  tar -C "$dir" --numeric-owner -c . | podman import -q -c "ENV $PATH_ENV" - "$DEBIAN_BASE" >/dev/null
  umount -l "$dir/proc" "$dir/sys" 2>/dev/null || true
  rm -rf --one-file-system "$dir"
  podman run --rm --pull=never "$DEBIAN_BASE" sh -c 'dnsmasq --version >/dev/null && curl --version >/dev/null && id cage >/dev/null' ||
    die "$DEBIAN_BASE: tools missing"
  built+=("$DEBIAN_BASE built $(elapsed "$t")")
}

if [ "$need_node_base" = 1 ]; then
  if [ "$rebuild" = 0 ] && podman image exists "$NODE_BASE"; then built+=("$NODE_BASE cached 0"); else build_node_base; fi
fi
if [ "$need_debian_base" = 1 ]; then
  if [ "$rebuild" = 0 ] && podman image exists "$DEBIAN_BASE"; then built+=("$DEBIAN_BASE cached 0"); else build_debian_base; fi
fi

# Stage a small build context (the repository root holds node_modules) that keeps the
# repository-relative paths the Containerfiles COPY from.
stage() { # stage DIR PATH...
  local dir=$1 p
  shift
  for p in "$@"; do
    mkdir -p "$dir/$(dirname "$p")"
    cp -a "$p" "$dir/$p"
  done
}

# ESM bundle of a Node entry point (what the images run); CommonJS dependencies call require(),
# which an ES module lacks: define it.
bundle() { # bundle ENTRY OUTFILE [ESBUILD FLAGS...]
  [ -x node_modules/.bin/esbuild ] || die "node_modules/.bin/esbuild is missing: run npm ci"
  mkdir -p "$(dirname "$2")"
  NODE_PATH="$PWD/node_modules" node_modules/.bin/esbuild "$1" --bundle --platform=node --format=esm --target=node20 \
    --outfile="$2" --log-level=warning "${@:3}" \
    --banner:js="import { createRequire as __agentcageCreateRequire } from 'node:module'; const require = __agentcageCreateRequire(import.meta.url);"
}

# ---- proxy ----
if wants proxy; then
  entry=${AGENTCAGE_PROXY_ENTRY:-proxy-image/src/main.ts}
  if [ ! -f "$entry" ]; then
    say "SKIPPING $PROXY: $entry does not exist yet (the proxy source is not written); other images go on"
    built+=("$PROXY skipped -")
  else
    t=$(date +%s.%N)
    # proxy.mjs and the chunks it loads (the schema check is its own file): scripts/bundle-proxy.ts,
    # the one build definition the bench and the tests use too.
    [ -x node_modules/.bin/tsx ] || die "node_modules/.bin/tsx is missing: run npm ci"
    node --import tsx scripts/bundle-proxy.ts build/proxy "$entry" >/dev/null
    stage "$work/proxy" proxy-image/Containerfile build/proxy/*.mjs
    pbuild --build-arg "BASE=$proxy_base" -f proxy-image/Containerfile -t "$PROXY" "$work/proxy"
    built+=("$PROXY built $(elapsed "$t")")
  fi
fi

# ---- operator ----
if wants operator; then
  t=$(date +%s.%N)
  bundle operator/cli/main.ts build/operator/agentcage.mjs
  stage "$work/operator" operator/Containerfile build/operator/agentcage.mjs
  pbuild --build-arg "BASE=$proxy_base" -f operator/Containerfile -t "$OPERATOR" "$work/operator"
  built+=("$OPERATOR built $(elapsed "$t")")
fi

# ---- dns ----
if wants dns; then
  t=$(date +%s.%N)
  stage "$work/dns" dns-image/Containerfile dns-image/entrypoint.sh dns-image/dnslog2json.awk
  pbuild --build-arg "BASE=$dns_base" -f dns-image/Containerfile -t "$DNS" "$work/dns"
  built+=("$DNS built $(elapsed "$t")")
fi

# ---- agent demo ----
if wants agent-demo; then
  t=$(date +%s.%N)
  mkdir -p "$work/agent"
  pbuild --build-arg "NODE_BASE=$NODE_BASE" --build-arg "BASE=$DEBIAN_BASE" \
    -f scripts/images/agent-demo.Containerfile -t "$AGENT" "$work/agent" >/dev/null
  built+=("$AGENT built $(elapsed "$t")")
fi

echo
printf '%-42s %-8s %8s %10s\n' IMAGE STATUS SECONDS SIZE
for row in "${built[@]}"; do
  read -r img status secs <<<"$row"
  size=-
  if [ "$status" != skipped ] && podman image exists "$img"; then size=$(podman image inspect --format '{{.Size}}' "$img" | awk '{ printf "%.0fMB", $1 / 1e6 }'); fi
  printf '%-42s %-8s %8s %10s\n' "$img" "$status" "$secs" "$size"
done
say "done in $(elapsed "$t_all") s"
