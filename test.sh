#!/usr/bin/env bash
# Runs every test as CI does: installs what the tests need when it is
# missing (Debian packages: prosody, gnupg, go-sendxmpp), then runs the whole
# suite with the integration tests required, so nothing skips silently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export PATH="/usr/local/go/bin:$PATH"

missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v go-sendxmpp >/dev/null 2>&1 || missing+=(go-sendxmpp)
if ((${#missing[@]})); then
  echo "test.sh: installing ${missing[*]} (apt-get)" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

OX_REQUIRE_INTEGRATION=1 go test -count=1 "$@" ./...
