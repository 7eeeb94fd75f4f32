#!/usr/bin/env bash
# The README's main job. Today: build fireball and walk a typed key-value message through encode,
# decode and a refused corruption. It grows into the local multi-node cluster demo.
set -euo pipefail
cd "$(dirname "$0")/.."
Deploy/setup.sh
echo "== building fireball" >&2
swift build --product fireball 2>&1 | grep -E "error|warning: |Compiling|Build complete" >&2 || true
fireball="$(swift build --show-bin-path)/fireball"

"$fireball" version
echo
echo "== encode: a sensor reading with a dictionary key, as a guest would send it"
"$fireball" message encode --dictionary temperature,humidity 1=u32:42 @temperature=f32:21.5 @humidity=i32:55 2=shm:7
hex=$("$fireball" message encode --compact --dictionary temperature,humidity 1=u32:42 @temperature=f32:21.5 @humidity=i32:55 2=shm:7)
echo
echo "== decode on the receiving side, keys found by binary search over the sorted index"
"$fireball" message decode --dictionary temperature,humidity "$hex"
echo
echo "== the same bytes with the sorted index swapped: the receiver refuses them and says where"
bad="${hex:0:$((${#hex} - 8))}$(echo "${hex: -8}" | sed -E 's/^(..)(..)/\2\1/')"
"$fireball" message decode --dictionary temperature,humidity "$bad" || echo "(exit $?: refused as it should be)"
