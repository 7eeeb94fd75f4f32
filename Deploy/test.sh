#!/usr/bin/env bash
# The test command of the README and of CI: setup, then every test target.
set -euo pipefail
cd "$(dirname "$0")/.."
Deploy/setup.sh
exec swift test "$@"
