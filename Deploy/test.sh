#!/usr/bin/env bash
# The test command of the README and of CI: setup, the external test data if it can be had, then every test target.
set -euo pipefail
cd "$(dirname "$0")/.."
Deploy/setup.sh
# The official spec suite (Deploy/spec-suite.pin), put in .cache if it can be had. If not, the spec
# tests are skipped with the reason and how to get it; under CI (FIREBALL_REQUIRE_SPEC_SUITE=1 or
# CI=true) they fail instead.
Deploy/fetch-spec-suite.sh || true
exec swift test "$@"
