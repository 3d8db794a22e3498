#!/usr/bin/env bash
# Installs what wgfabric needs on Debian (as root) and the npm packages, once.
# Idempotent: skips apt when every tool is already present, skips npm when the lockfile is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in wireguard-go:wireguard-go wg:wireguard-tools nft:nftables ip:iproute2 ping:iputils-ping conntrack:conntrack keepalived:keepalived gcc:gcc openssl:openssl ethtool:ethtool sysctl:procps systemd-analyze:systemd bird:bird2 birdc:bird2 knotd:knot kdig:knot-dnsutils; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# etcd (store driver tests, etcd labs): on a line of its own to keep merges of the list above easy.
for pair in etcd:etcd-server etcdctl:etcd-client; do command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}"); done
# The dashboard's browser tests (test/integration/dashboard.test.ts) drive Debian's chromium.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The BPF data path: clang builds it, libbpf-dev gives its headers (no command), bpftool writes its maps.
for pair in clang:clang llvm-objdump:llvm bpftool:bpftool; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || need_apt+=(libbpf-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "wgfabric: missing Debian packages: ${need_apt[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "wgfabric: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

stamp=node_modules/.wgfabric-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "wgfabric: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build
bash scripts/build-bpf.sh
