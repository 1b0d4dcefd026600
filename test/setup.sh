#!/usr/bin/env bash
# What the test suite needs, installed the same way CI does (called by `npm test`):
# a real nats-server, and, when a Docker engine answers, the local NATS image for testcontainers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing nats-server (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null; }
  else
    echo "setup: nats-server is missing: brew install nats-server (macOS) or sudo apt-get install nats-server (Debian/Ubuntu)" >&2
    exit 1
  fi
fi

# The web view's browser test (test/integration/web.test.ts) drives Debian's Chromium; it fails without it.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${MESH_CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
  else
    echo "setup: chromium is missing (the web view test needs it): sudo apt-get install chromium, or set MESH_CHROMIUM" >&2
  fi
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  bash test/support/build-nats-image.sh
else
  echo "setup: no Docker engine answers; integration tests use a spawned nats-server instead of testcontainers"
fi

if [ -f test/support/openclaw/install.sh ] && [ "${MESH_SKIP_OPENCLAW:-}" != 1 ]; then
  bash test/support/openclaw/install.sh
fi
