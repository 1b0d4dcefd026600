#!/usr/bin/env bash
# The two slow suites of `npm test`, side by side: the real-gateway tests (vitest.gateways.config.ts,
# one file at a time) and the fault-injection suite (vitest.faults.config.ts, one file at a time).
# Both spend most of their time waiting (a gateway starting, a link cut, an outage held), so together
# they take about as long as the longer one. Each line is prefixed with its suite; the exit status is
# non-zero when either fails. Run one alone: `npx vitest run --config vitest.gateways.config.ts` or
# `npm run test:faults`.
set -uo pipefail
cd "$(dirname "$0")/.."
npx vitest run --config vitest.gateways.config.ts 2>&1 | sed -u 's/^/[gateways] /' &
gateways=$!
npx vitest run --config vitest.faults.config.ts 2>&1 | sed -u 's/^/[faults] /' &
faults=$!
wait "$gateways"; g=$?
wait "$faults"; f=$?
echo "slow suites: gateways exit $g, faults exit $f"
[ "$g" -eq 0 ] && [ "$f" -eq 0 ]
