#!/usr/bin/env bash
# The main job: installs what wgfabric needs (Debian + npm packages), builds, and brings up the
# local fabric lab: control plane on the embedded SQLite store, 3 backends (wireguard-go + agent)
# and 2 clients in network namespaces, then shows traffic flowing through it.
#   bash scripts/demo.sh            leave the lab running (remove it with: npx wgfabric lab down --all)
#   bash scripts/demo.sh --check    bring it up, show it, and remove it again
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "wgfabric demo: run as root (it creates network namespaces)" >&2; exit 1; fi
bash scripts/deps.sh
base=.wgfabric
node bin/wgfabric.js lab up --backends "${WGF_DEMO_BACKENDS:-3}" --clients "${WGF_DEMO_CLIENTS:-2}" --base "$base"
tag=$(ls -t "$base/labs" | head -n 1)
echo
echo "== every node, its sync state and lag (wgfabric status):"
state="./$base/labs/$tag/state.json"
server=$(node -e "console.log(require('$state').plan.serverUrl)")
ca=$(node -e "console.log(require('$state').tls?.caFile ?? '')")   # the lab's own CA (HTTPS)
node bin/wgfabric.js status --server "$server" --token-file "$base/labs/$tag/admin.token" ${ca:+--ca-file "$ca"}
echo
echo "== web dashboard: $server/ui/ (sign in with the token in $base/labs/$tag/admin.token; the lab's CA is ${ca:-not used})"
if [ "${1:-}" = "--check" ]; then
  node bin/wgfabric.js lab down --tag "$tag" --base "$base"
fi
