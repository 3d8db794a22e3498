#!/usr/bin/env bash
# The whole test suite: installs its dependencies, type-checks, runs unit tests, then the
# integration tests (real wireguard-go, network namespaces, nftables; need root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
npx tsc -p tsconfig.check.json
mapfile -t unit < <(find src -name '*.test.ts' | sort)
mapfile -t integ < <(find test/integration -name '*.test.ts' 2>/dev/null | sort)
echo "== unit tests (${#unit[@]} files)"
node --import tsx --test --test-concurrency=2 "${unit[@]}"
if [ ${#integ[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "== integration tests skipped: they need root (network namespaces, TUN devices)" >&2
    exit 1
  fi
  echo "== integration tests (${#integ[@]} files)"
  node --import tsx --test --test-concurrency=1 "${integ[@]}"
fi
