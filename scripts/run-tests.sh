#!/usr/bin/env bash
# The whole test run: static checks (each counted as one test) then every mocha test.
# Ends with one plain line "N passed, N failed" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
check() {
  local name=$1
  shift
  echo "== $name: $*"
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
check eslint npx eslint .
check prettier npx prettier --check .
check tsc npx tsc --noEmit
stats=$(mktemp)
suites=("$@")
# mocha expands the quoted globs itself; unit first, e2e (real podman) last.
[ ${#suites[@]} -gt 0 ] || suites=('test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts')
MOCHA_STATS_FILE=$stats npx mocha "${suites[@]}"
mocha_rc=$?
if [ -s "$stats" ]; then
  read -r mp mf <"$stats"
  passed=$((passed + mp))
  failed=$((failed + mf))
fi
# A mocha run that died before reporting still counts as a failure.
if [ $mocha_rc -ne 0 ] && [ "${mf:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
rm -f "$stats"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
