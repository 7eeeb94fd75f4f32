#!/usr/bin/env bash
# Builds the example guests into .wasm files next to their sources; idempotent (an unchanged
# module is not rewritten). Usage: Deploy/examples/build.sh   (CLANG=... to pick a compiler)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
sdk="$(cd "$here/../sdk" && pwd)"
clang="${CLANG:-clang}"
command -v "$clang" >/dev/null || { echo "build: $clang is not on PATH (the Swift toolchain's clang builds wasm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

warnings=(-Wall -Wextra -Wpedantic -Wconversion -Werror)
# Small boards: one-byte pages (the custom-page-sizes proposal) so that a guest declares exactly
# the memory it needs — 16 KiB that cannot grow, which fits a Cortex-M33's 24 KiB guest partition
# beside its value stack — with a 4 KiB stack placed first (an overflow traps, never overwrites data).
memory=(-Wl,--page-size=1 -Wl,--stack-first -Wl,-z,stack-size=4096 -Wl,--initial-memory=16384 -Wl,--max-memory=16384)
# wasi-libc's malloc assumes 64 KiB pages (its sbrk grows by them), so WASI guests keep standard
# pages: one, that cannot grow.
wasi_memory=(-Wl,--stack-first -Wl,-z,stack-size=8192 -Wl,--initial-memory=65536 -Wl,--max-memory=65536)

# Moves a fresh build into place unless the committed module is byte-identical; prints a line.
install_module() {
    local built="$1" name="$2" target="$here/$2.wasm" state="built"
    if [ -f "$target" ] && cmp -s "$built" "$target"; then state="unchanged"; else mv "$built" "$target"; fi
    printf '  %-26s %7d bytes  %-9s %s\n' "$name.wasm" "$(wc -c <"$target")" "$state" "$(describe "$target")"
}

# The memory limits and import modules of a module, read with wabt's wasm-objdump if present.
describe() {
    command -v wasm-objdump >/dev/null || return 0
    local imports
    # (wabt 1.0.32 cannot read one-byte pages yet, so only the imports are listed.)
    imports="$(wasm-objdump -x -j Import "$1" 2>/dev/null | sed -n 's/.*<- \([^.]*\)\..*/\1/p' | sort -u | paste -sd, -)"
    echo "imports ${imports:-none}"
}

echo "build: fireball guests (freestanding, $("$clang" --version | head -1))"
for name in ping pong producer consumer blinky greenhouse-sensor greenhouse-aggregator greenhouse-actuator; do
    "$clang" --target=wasm32 -O2 -ffreestanding -nostdlib -Wl,--no-entry -Wl,--strip-debug -std=c11 "${warnings[@]}" -I "$sdk" \
        "${memory[@]}" "$here/$name.c" -o "$work/$name.wasm"
    install_module "$work/$name.wasm" "$name"
done

# hello.c uses wasi-libc. Debian's wasi-libc and libclang-rt-14-dev-wasm32 (Deploy/setup.sh)
# provide the headers, libc.a and the compiler builtins; a sysroot in the temp folder joins them.
for package in wasi-libc libclang-rt-14-dev-wasm32; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        { echo "build: package $package is missing; run Deploy/setup.sh" >&2; exit 1; }
done
# The first path of `package`'s file list that matches `pattern` (the list is read whole, so no
# pipe is cut short under pipefail).
package_path() { awk -v pattern="$2" '$0 ~ pattern { print; exit }' <<<"$(dpkg -L "$1")"; }
headers="$(package_path wasi-libc '/include/wasm32-wasi$')"
libraries="$(package_path wasi-libc '/lib/wasm32-wasi$')"
builtins="$(package_path libclang-rt-14-dev-wasm32 '/libclang_rt[.]builtins-wasm32[.]a$')"
for found in "$headers" "$libraries" "$builtins"; do
    [ -e "$found" ] || { echo "build: wasi-libc headers, libraries or builtins not found; run Deploy/setup.sh" >&2; exit 1; }
done
sysroot="$work/sysroot"
mkdir -p "$sysroot/lib"
ln -s "$headers" "$sysroot/include"
ln -s "$libraries" "$sysroot/lib/wasm32-wasi"

echo "build: WASI guests (wasi-libc sysroot from $headers and $libraries)"
"$clang" --target=wasm32-wasi --sysroot="$sysroot" -O2 -nodefaultlibs -Wl,--strip-debug -std=gnu11 "${warnings[@]}" \
    "${wasi_memory[@]}" "$here/hello.c" -lc "$builtins" -o "$work/hello.wasm"
install_module "$work/hello.wasm" hello
