#!/usr/bin/env bash
# The main job: installs what wgfabric needs (Debian + npm packages), builds, and brings up the
# full local fabric: control plane (HTTPS, embedded SQLite store), 3 backends (wireguard-go +
# agent), 2 load-balancer instances behind an ECMP router, clients connecting through the VIP.
# Shows traffic, then kills one backend and shows, live, the LBs taking it out and its clients
# coming back on other backends, with the times; then prints where to look next.
#   bash scripts/demo.sh            leave the fabric running (remove it with: npx wgfabric lab down --tag TAG)
#   bash scripts/demo.sh --check    the same, then remove everything; exit code 0 only if it all worked
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "wgfabric demo: run as root (it creates network namespaces)" >&2; exit 1; fi
check=0
[ "${1:-}" = "--check" ] && check=1
# WGF_DEMO_SKIP_SETUP=1: deps and build are known to be done (the demo test after scripts/test.sh's own setup).
[ "${WGF_DEMO_SKIP_SETUP:-}" = 1 ] || bash scripts/deps.sh
base=.wgfabric
wgf() { node bin/wgfabric.js "$@"; }
before=$(ls "$base/labs" 2>/dev/null || true)
newlab() { comm -13 <(echo "$before" | sort) <(ls "$base/labs" 2>/dev/null | sort) | head -n 1; }
tag=
cleanup() {
  # --check removes what it made, also after a failure or Ctrl-C (a lab half made by an interrupted lab up too).
  if [ "$check" = 1 ]; then
    [ -n "$tag" ] || tag=$(newlab)
    if [ -n "$tag" ]; then wgf lab down --tag "$tag" --base "$base" || true; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "== bringing up the fabric: 3 backends, 2 LB instances behind an ECMP router, ${WGF_DEMO_CLIENTS:-6} clients through the VIP"
wgf lab up --backends 3 --clients "${WGF_DEMO_CLIENTS:-6}" --lb-instances 2 --base "$base"
tag=$(newlab)
[ -n "$tag" ] || { echo "wgfabric demo: lab up made no lab under $base/labs" >&2; exit 1; }
dir="$PWD/$base/labs/$tag"
state="$dir/state.json"
server=$(node -e "console.log(require('$state').plan.serverUrl)")
pool=$(node -e "console.log(require('$state').plan.pool.name)")
ca=$(node -e "console.log(require('$state').tls?.caFile ?? '')")   # the lab's own CA (HTTPS)
lbs=$(node -e "console.log(require('$state').plan.lb.instances.map((i) => i.statusUrl).join(' '))")
api=(--server "$server" --token-file "$dir/operator.token" ${ca:+--ca-file "$ca"})
[ -f "$dir/operator.token" ] || api=(--server "$server" --token-file "$dir/admin.token" ${ca:+--ca-file "$ca"})
echo
echo "== every node, its sync state and how the LBs see it (wgfabric status):"
wgf status "${api[@]}"
echo
echo "== the LB instances' reports to the control plane (wgfabric lb list --pool $pool):"
wgf lb list --pool "$pool" "${api[@]}"
echo
echo "== failover, live (times since the kill; stock WireGuard clients handshake again about 15 s after their last answered packet):"
rc=0
wgf lab failover --tag "$tag" --base "$base" || rc=$?
echo
for url in $lbs; do
  echo "== wgfabric lb status --url $url"
  wgf lb status --url "$url" || rc=1
done
echo
echo "== where to look next:"
echo "  export WGFABRIC_SERVER=$server WGFABRIC_TOKEN_FILE=$dir/operator.token${ca:+ WGFABRIC_CA_FILE=$ca}"
echo "  npx wgfabric status                      # nodes, lag, LB view"
for url in $lbs; do echo "  npx wgfabric lb status --url $url"; done
echo "  npx wgfabric lb list --pool $pool          # every LB instance's report"
echo "  npx wgfabric node drain $pool backend-1 --wait --timeout 60   # flows left per LB instance"
echo "  npx wgfabric audit                        # who changed what (before -> after)"
echo "  dashboard: $server/ui/  (sign in with the token in $dir/operator.token${ca:+; trust the lab CA $ca})"
echo "  logs (one JSON shape, --log-level / WGFABRIC_LOG_LEVEL): $dir/*.log"
if [ "$check" = 1 ]; then
  echo
  [ "$rc" = 0 ] && echo "demo check: OK (removing the lab)" || echo "demo check: FAILED (exit $rc; removing the lab)"
else
  echo "  npx wgfabric lab down --tag $tag --base $base   # remove it"
fi
exit "$rc"
