#!/usr/bin/env bash
# The main job: installs what is needed, then runs the wgfabric demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
exec node bin/wgfabric.js --help
