#!/usr/bin/env bash
# Installs fireball: builds release and puts PREFIX/bin/fireball on the PATH with its boards, guest
# SDK, examples, apps and the local cluster's inventory in PREFIX/share/fireball (the binary finds
# its boards there by itself). Usage: Deploy/install.sh [PREFIX] (default ~/.local).
# FIREBALL_BUILT=DIR installs the fireball already built in DIR instead of building (tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local}"
if [[ -n "${FIREBALL_BUILT:-}" ]]; then
  bin="$FIREBALL_BUILT"
else
  echo "== building fireball (release)" >&2
  swift build -c release --product fireball 2>&1 | grep -E "error|warning: |Build complete" >&2 || true
  bin="$(swift build -c release --show-bin-path)"
fi
[[ -x "$bin/fireball" ]] || { echo "install: no fireball in $bin (did the build fail?)" >&2; exit 1; }
share="$prefix/share/fireball"
mkdir -p "$prefix/bin" "$share"
install -m 0755 "$bin/fireball" "$prefix/bin/fireball"
# Replace the data folders whole, so that a board removed from the repository goes away here too.
for folder in boards sdk examples apps clusters; do
  rm -rf "${share:?}/$folder"
  cp -R "Deploy/$folder" "$share/$folder"
done
echo "installed $prefix/bin/fireball $("$prefix/bin/fireball" --version) and $share/{boards,sdk,examples,apps,clusters}"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "add $prefix/bin to your PATH, e.g.: echo 'export PATH=\"$prefix/bin:\$PATH\"' >> ~/.profile" ;;
esac
echo "next: fireball context set local --inventory $share/clusters/local.yaml --certs ~/fireball/certs  (see README, Install)"
