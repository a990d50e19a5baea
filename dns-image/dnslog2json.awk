# dnslog2json.awk: turns dnsmasq's query log (--log-queries=extra --log-facility=-) into
# one JSON audit line per DNS query on stdout. POSIX awk plus strftime/systime/fflush (mawk 1.3.4, gawk).
#
#   awk -v conf=/etc/agentcage/dnsmasq.conf -f dnslog2json.awk     (reads the log on stdin)
#
# Output, one line per query (fields always present; upstream and answer may be null):
#   {"time":"2025-01-01T00:00:00Z","kind":"dns","id":9,"client":"10.89.0.5","name":"evil.com",
#    "qtype":"A","decision":"blocked","answer":"198.51.100.1","answers":["198.51.100.1"],
#    "source":"config","upstream":null}
# decision is "blocked" when dnsmasq answered with a placeholder address (every IP given by an
# address=/.../IP line of conf, or -v placeholders="ip,ip"), or answered from its own config with
# NXDOMAIN/NODATA/REFUSED (an address=/.../ line with no IP; other qtypes of a blocked name);
# else "allowed". A query with no answer at all after `timeout_ticks` ticks is emitted with
# answer null ("allowed" if it was forwarded, else "blocked").
#
# dnsmasq logs one query as several lines sharing a serial number (query, forwarded, reply...):
#   dnsmasq[7]: 9 10.89.0.5/40386 query[A] evil.com from 10.89.0.5
#   dnsmasq[7]: 9 10.89.0.5/40386 config evil.com is 198.51.100.1
# and never says a query is complete, so the entrypoint feeds a tick line ("#agentcage-tick")
# every 0.2 s: a query is emitted after `idle_ticks` ticks without a new line for it.
# Lines that are not query log lines (startup, warnings, errors) are copied to stderr.

function jstr(s) {
  gsub(/\\/, "\\\\", s)
  gsub(/"/, "\\\"", s)
  gsub(/[\001-\037]/, "", s)
  return "\"" s "\""
}

function jnull(s) { return s == "" ? "null" : jstr(s) }

function emit(s,    n, i, parts, list, first, decision) {
  n = split(ans[s], parts, SUBSEP)
  list = ""
  first = ""
  for (i = 1; i <= n; i++) {
    if (parts[i] == "") continue
    list = list (list == "" ? "" : ",") jstr(parts[i])
    if (first == "" && parts[i] != "<CNAME>") first = parts[i]
  }
  if (first == "" && n > 0) first = parts[1]
  if (blocked[s]) decision = "blocked"
  else if (n == 0 && up[s] == "") decision = "blocked"
  else decision = "allowed"
  printf "{\"time\":%s,\"kind\":\"dns\",\"id\":%d,\"client\":%s,\"name\":%s,\"qtype\":%s,\"decision\":\"%s\",\"answer\":%s,\"answers\":[%s],\"source\":%s,\"upstream\":%s}\n", \
    jstr(qtime[s]), s, jnull(client[s]), jstr(qname[s]), jstr(qtype[s]), decision, jnull(first), list, jnull(src[s]), jnull(up[s])
  fflush()
  delete qtime[s]; delete client[s]; delete qname[s]; delete qtype[s]; delete ans[s]
  delete src[s]; delete up[s]; delete blocked[s]; delete age[s]; delete answered[s]
  delete pending[s]
}

function now() { return strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1) }

BEGIN {
  if (idle_ticks == "") idle_ticks = 2
  if (timeout_ticks == "") timeout_ticks = 50
  n = split(placeholders, tmp, ",")
  for (i = 1; i <= n; i++) if (tmp[i] != "") placeholder[tmp[i]] = 1
  if (conf != "") {
    while ((getline line < conf) > 0) {
      sub(/^[ \t]+/, "", line)
      if (line !~ /^address=\//) continue
      sub(/[ \t].*$/, "", line)
      ip = line
      sub(/^.*\//, "", ip)
      if (ip != "") placeholder[ip] = 1
    }
    close(conf)
  }
}

# Pending queries are visited in serial order, so output keeps the order of the queries.
$0 == "#agentcage-tick" {
  for (s = lo; s <= hi; s++) {
    if (!(s in pending)) continue
    age[s]++
    if ((answered[s] && age[s] >= idle_ticks) || age[s] >= timeout_ticks) emit(s)
  }
  while (lo <= hi && !(lo in pending)) lo++
  next
}

# dnsmasq[PID]: SERIAL CLIENT/PORT VERB ...
$1 ~ /^dnsmasq(\[[0-9]+\])?:$/ && $2 ~ /^[0-9]+$/ && $3 ~ /\// {
  s = $2 + 0
  verb = $4
  if (verb ~ /^query\[/) {
    if (s in pending) emit(s)
    t = verb
    sub(/^query\[/, "", t)
    sub(/\]$/, "", t)
    pending[s] = 1
    if (lo == "" || s < lo) lo = s
    if (hi == "" || s > hi) hi = s
    qtime[s] = now()
    c = $3
    sub(/\/[0-9]+$/, "", c)
    client[s] = c
    qname[s] = $5
    qtype[s] = t
    ans[s] = ""
    age[s] = 0
    next
  }
  if (!(s in pending)) next
  age[s] = 0
  if (verb == "forwarded") { up[s] = $7; next }
  # reply|cached|cached-stale|config|... NAME is ANSWER [extra words]
  if ($6 == "is" && NF >= 7) {
    a = $7
    if (src[s] == "") src[s] = verb
    answered[s] = 1
    ans[s] = ans[s] (ans[s] == "" ? "" : SUBSEP) a
    if (a in placeholder) blocked[s] = 1
    else if (verb == "config" && a ~ /^(NXDOMAIN|NODATA|REFUSED)/) blocked[s] = 1
  }
  next
}

{ print > "/dev/stderr"; fflush("/dev/stderr") }

END { for (s = lo; s <= hi; s++) if (s in pending) emit(s) }
