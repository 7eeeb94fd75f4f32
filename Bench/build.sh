#!/usr/bin/env bash
# Builds the benchmark programs (Bench/programs/*.c) into wasm32 modules with the toolchain's clang.
# Usage: Bench/build.sh [OUT [NAME…]]   (default OUT: .build/bench; default: every program)
# Idempotent: a module is rebuilt only when its source or bench.h is newer. Each module is built in a
# private folder and moved into place, so that two builds into the same folder never see a half file.
set -euo pipefail

programs="$(cd "$(dirname "$0")/programs" && pwd)"
out="${1:-$(cd "$(dirname "$0")/.." && pwd)/.build/bench}"
[ $# -gt 0 ] && shift
clang="${CLANG:-clang}"
command -v "$clang" >/dev/null || { echo "bench build: $clang is not on PATH (the Swift toolchain's clang builds wasm)" >&2; exit 1; }

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for source in "$programs"/*.c; do names+=("$(basename "$source" .c)"); done
fi
mkdir -p "$out"
# Same file name as the target: wasm-ld records the output's name in the module's name section.
work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for name in "${names[@]}"; do
    source="$programs/$name.c"
    [ -f "$source" ] || { echo "bench build: no program $name (no $source)" >&2; exit 1; }
    target="$out/$name.wasm"
    if [ -f "$target" ] && [ "$target" -nt "$source" ] && [ "$target" -nt "$programs/bench.h" ]; then continue; fi
    # The flags of Bench/README.md: freestanding, no libc, no entry point; clang's default wasm
    # features (no SIMD). These give byte-identical modules to the reference set.
    "$clang" --target=wasm32 -O2 -nostdlib -Wl,--no-entry -I "$programs" -o "$work/$name.wasm" "$source"
    mv -f "$work/$name.wasm" "$target"
done
