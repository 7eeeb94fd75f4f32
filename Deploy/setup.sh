#!/usr/bin/env bash
# Installs the Debian packages Fireball needs; idempotent, and silent when everything is already there.
set -euo pipefail

packages=(
  pkg-config libuv1-dev libssl-dev openssl   # Transport: libuv + OpenSSL, and the openssl CLI for TLS checks
  wabt                                       # wast2json, to convert the official spec suite
  wasi-libc libclang-rt-14-dev-wasm32        # libc and builtins for C guests that use WASI
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v swift >/dev/null; then
  echo "setup: Swift 6.1 or newer must be on PATH (https://swift.org/install)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
