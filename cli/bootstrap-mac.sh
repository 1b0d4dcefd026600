#!/usr/bin/env bash
# One line per Mac, as the guide has it:
#   ./bootstrap-mac.sh --identity nova --tailscale-key tskey-auth-… --peer http://100.x.x.x:18789 --alert +15166334684
# A thin wrapper over `mesh init`: installs openclaw-mesh when `mesh` is missing, then runs
#   mesh init --identity … --tailscale-key … --peer … --alert … --configure-gateway
# (--peer: a peer Mac's gateway address; the broker runs on that host, nats://<host>:4222.)
# Any other flag is passed to `mesh init` as is (e.g. --capabilities gpu,build, --creds <file>, --dry-run).
set -euo pipefail

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

args=()
have_identity=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage 0 ;;
    --identity|--tailscale-key|--peer|--alert|--server|--capabilities|--creds|--gateway)
      [ $# -ge 2 ] || { echo "bootstrap-mac: $1 needs a value" >&2; exit 2; }
      [ "$1" = --identity ] && have_identity=1
      args+=("$1" "$2")
      shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ "$have_identity" = 1 ] || { echo "bootstrap-mac: --identity <name> is required (e.g. --identity nova)" >&2; usage 2; }

if ! command -v mesh >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || { echo "bootstrap-mac: Node.js (npm) is needed first: brew install node" >&2; exit 1; }
  echo "bootstrap-mac: installing openclaw-mesh (npm install -g openclaw-mesh)"
  npm install -g openclaw-mesh
fi
exec mesh init --configure-gateway "${args[@]}"
