#!/usr/bin/env bash
# Runs every test as CI does: installs what the tests need when it is missing
# (scripts/install-deps.sh), then runs the whole suite with the integration
# tests required, so nothing skips silently. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export PATH="/usr/local/go/bin:$PATH"
scripts/install-deps.sh
OX_REQUIRE_INTEGRATION=1 go test -count=1 "$@" ./...
