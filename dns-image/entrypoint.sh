#!/bin/bash
# agentcage-dns entrypoint: runs dnsmasq on the rendered config and prints one JSON audit line
# per DNS query on stdout (see dnslog2json.awk for the fields). dnsmasq's other messages go to
# stderr. Refuses to start without a readable config (fail closed).
#
#   config   /etc/agentcage/dnsmasq.conf   (override: AGENTCAGE_DNS_CONF)
#   port     the config's port= line; if it has none, AGENTCAGE_DNS_PORT (default 5353).
#            The image runs as uid 10001 ("cage"), which can bind 5353 but not 53.
#            Port 53 as uid 10001: add capability NET_BIND_SERVICE (podman and kube play give a
#            non-root user added capabilities as ambient ones; works with all others dropped,
#            no-new-privileges and a read-only root filesystem). Started as root instead,
#            dnsmasq drops to user cage after binding.
#   the config must not set log-facility (the audit reads dnsmasq's log on stderr); it needs no
#   log-queries line (added here). Extra arguments are passed to dnsmasq.
#   Writes nothing to disk (no pid file; the log converter reads a pipe).
set -uo pipefail

conf=${AGENTCAGE_DNS_CONF:-/etc/agentcage/dnsmasq.conf}
lib=$(dirname "$(readlink -f "$0")")

if [ ! -r "$conf" ]; then
  echo "agentcage-dns: no readable config at $conf; refusing to start" >&2
  exit 64
fi

args=(--keep-in-foreground "--conf-file=$conf" --log-facility=- --log-queries=extra --pid-file=)
if ! grep -Eq '^[[:space:]]*port=' "$conf"; then args+=("--port=${AGENTCAGE_DNS_PORT:-5353}"); fi
if [ "$(id -u)" = 0 ]; then args+=(--user=cage --group=cage); fi

awk_cmd=(awk)
# mawk buffers a pipe's input unless told otherwise; the audit must flow line by line.
if awk -W version 2>/dev/null | grep -q mawk; then awk_cmd=(awk -W interactive); fi

# dnsmasq's log (stderr) and a 0.2 s tick both feed the converter; the tick lets it emit a query
# once no more lines for it arrive (dnsmasq never marks a query as complete).
exec {audit}> >(exec "${awk_cmd[@]}" -v "conf=$conf" -f "$lib/dnslog2json.awk")
audit_pid=$!
dnsmasq "${args[@]}" "$@" 2>&"$audit" &
dns_pid=$!
(while sleep 0.2; do echo '#agentcage-tick' || exit 0; done) 1>&"$audit" 2>/dev/null &
tick_pid=$!
exec {audit}>&-

stop() { kill -TERM "$dns_pid" 2>/dev/null; }
trap stop TERM INT HUP

# wait returns early when a trapped signal arrives: keep waiting until dnsmasq is gone.
while kill -0 "$dns_pid" 2>/dev/null; do wait "$dns_pid"; done
wait "$dns_pid"
rc=$?
kill "$tick_pid" 2>/dev/null
wait "$tick_pid" 2>/dev/null
wait "$audit_pid" 2>/dev/null
exit "$rc"
