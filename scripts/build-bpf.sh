#!/usr/bin/env bash
# Builds the load balancer's BPF program (src/lb/dataplane/wglb.bpf.c) with Debian's clang and
# libbpf headers into build/bpf/wglb.bpf.o, where `lb run --dataplane bpf` loads it from.
# Rebuilds only when a source is newer than the object.
set -euo pipefail
cd "$(dirname "$0")/.."
src=src/lb/dataplane/wglb.bpf.c
out=build/bpf/wglb.bpf.o
# The program's headers (src/lb/dataplane/*.bpf.h) count as its source too.
if [ -f "$out" ] && [ -z "$(find src/lb/dataplane -name '*.bpf.[ch]' -newer "$out")" ]; then exit 0; fi
mkdir -p build/bpf
clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$src" -o "$out.tmp"
mv "$out.tmp" "$out"
echo "wgfabric: built $out"
