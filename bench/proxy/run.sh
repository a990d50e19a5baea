#!/usr/bin/env bash
# Side-by-side proxy benchmark: direct, agentcage, mitmdump, squid (see run.ts).
#   bench/proxy/run.sh [--duration SECONDS] [--only direct,agentcage,mitmproxy,squid] [--json FILE]
# Needs: apt-get install -y wrk hey mitmproxy squid (scripts/install-system-deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec npx tsx bench/proxy/run.ts "$@"
