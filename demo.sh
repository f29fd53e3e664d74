#!/usr/bin/env bash
# The main job: a whole OX exchange on this machine (cmd/oxdemo), after
# installing what it needs when it is missing (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export PATH="/usr/local/go/bin:$PATH"
scripts/install-deps.sh
go run ./cmd/oxdemo
