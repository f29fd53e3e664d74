#!/usr/bin/env bash
# Installs, from Debian's packages, what ox's demo and tests run against when
# it is missing: prosody (the XMPP server the harness starts on loopback),
# gnupg (interop tests) and go-sendxmpp (an independent OX peer); nginx and
# gpg-wks-client serve the tests' Web Key Directory.
set -euo pipefail
declare -A packages=([prosody]=prosody [prosodyctl]=prosody [gpg]=gnupg [go-sendxmpp]=go-sendxmpp [nginx]=nginx)
missing=()
for cmd in "${!packages[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    pkg=${packages[$cmd]}
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done
# gpg-wks-client is not on PATH: Debian puts it in /usr/lib/gnupg.
[[ -x /usr/lib/gnupg/gpg-wks-client ]] || missing+=(gpg-wks-client)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} (apt-get)" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "ERROR: $cmd is still missing after apt-get install" >&2; exit 1; }
done
[[ -x /usr/lib/gnupg/gpg-wks-client ]] || { echo "ERROR: gpg-wks-client is still missing after apt-get install" >&2; exit 1; }
