#!/usr/bin/env bash
# Places the official WebAssembly spec suite, at the commit pinned in Deploy/spec-suite.pin, in
# .cache/wasm-testsuite (git-ignored), where Tests/SpecTests find it. Idempotent. Tries, in order:
# the cache itself, $FIREBALL_SPEC_SUITE, a sibling ../shared/wasm-testsuite, then git from the
# official repository. Each copy is checked against the pinned content hash before it is used.
# Usage: Deploy/fetch-spec-suite.sh        exit 0: the suite is in place; 1: it could not be had (says why)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
repository="$(sed -n 's/^repository=//p' Deploy/spec-suite.pin)"
commit="$(sed -n 's/^commit=//p' Deploy/spec-suite.pin)"
pinned="$(sed -n 's/^sha256=//p' Deploy/spec-suite.pin)"
cache="$root/.cache/wasm-testsuite"
say() { echo "spec suite: $*" >&2; }

# The content hash of Deploy/spec-suite.pin: sha256 over `sha256sum` of the top-level .wast files.
content_hash() (
    export LC_ALL=C   # before the glob expands: the files go in byte order of their names
    cd "$1"
    shopt -s nullglob
    local files=(*.wast)
    [ ${#files[@]} -gt 0 ] || { echo none; return; }
    if command -v sha256sum >/dev/null; then
        sha256sum -- "${files[@]}" | sha256sum | cut -d' ' -f1
    else
        shasum -a 256 -- "${files[@]}" | shasum -a 256 | cut -d' ' -f1
    fi
)

# Copies the .wast files (and the licence) of a verified folder into the cache, replacing it whole.
install_from() {
    local staging
    staging="$(mktemp -d "$root/.cache/.wasm-testsuite.XXXXXX")"
    cp "$1"/*.wast "$staging/"
    [ -f "$1/LICENSE" ] && cp "$1/LICENSE" "$staging/"
    printf 'The WebAssembly spec suite of %s at commit %s (content verified),\nplaced here from %s by Deploy/fetch-spec-suite.sh.\n' \
        "$repository" "$commit" "$2" > "$staging/SOURCE"
    chmod -R u+w "$staging"
    rm -rf "$cache"
    mv "$staging" "$cache"
}

mkdir -p "$root/.cache"
if [ -d "$cache" ] && [ "$(content_hash "$cache")" = "$pinned" ]; then
    say "in place at .cache/wasm-testsuite (commit ${commit:0:12}, content verified)"
    exit 0
fi

tried=()
candidates=()
[ -n "${FIREBALL_SPEC_SUITE:-}" ] && candidates+=("$FIREBALL_SPEC_SUITE")
candidates+=("$(dirname "$root")/shared/wasm-testsuite")
for candidate in "${candidates[@]}"; do
    if [ ! -d "$candidate" ]; then tried+=("$candidate: no such folder"); continue; fi
    found="$(content_hash "$candidate")"
    if [ "$found" = "$pinned" ]; then
        install_from "$candidate" "$candidate"
        say "copied from $candidate into .cache/wasm-testsuite (commit ${commit:0:12}, content verified)"
        exit 0
    fi
    if [ "$found" = none ]; then tried+=("$candidate: no .wast files"); continue; fi
    tried+=("$candidate: not the pinned suite (content sha256 $found, pinned $pinned)")
done

# git: a shallow fetch of exactly the pinned commit.
if command -v git >/dev/null; then
    clone="$(mktemp -d)"
    trap 'rm -rf "$clone"' EXIT
    limit=()
    command -v timeout >/dev/null && limit=(timeout 300)
    say "fetching $repository at $commit with git"
    if git -C "$clone" init -q &&
       log="$(GIT_TERMINAL_PROMPT=0 "${limit[@]}" git -C "$clone" fetch -q --depth 1 "$repository" "$commit" 2>&1)" &&
       git -C "$clone" checkout -q FETCH_HEAD; then
        found="$(content_hash "$clone")"
        if [ "$found" = "$pinned" ]; then
            install_from "$clone" "$repository"
            say "fetched into .cache/wasm-testsuite (commit ${commit:0:12}, content verified)"
            exit 0
        fi
        tried+=("git $repository $commit: content sha256 $found, pinned $pinned")
    else
        tried+=("git $repository $commit: $(echo "${log:-git init failed}" | tr '\n' ' ' | sed 's/ *$//')")
    fi
else
    tried+=("git: not installed")
fi

say "not available. Tried:"
for line in "${tried[@]}"; do echo "  - $line" >&2; done
cat >&2 <<EOF
To get it: check out $repository at commit $commit (any copy whose
top-level .wast files hash as Deploy/spec-suite.pin says), then either set FIREBALL_SPEC_SUITE to that
folder or put it at ../shared/wasm-testsuite beside this repository, and run Deploy/fetch-spec-suite.sh again.
EOF
exit 1
