#!/usr/bin/env bash
# Installs, from Debian's packages, what ox's demo and tests run against when
# it is missing: prosody and ejabberd (the XMPP servers the test harnesses
# start on loopback), gnupg (interop tests) and go-sendxmpp (an independent OX
# peer); nginx and gpg-wks-client serve the tests' Web Key Directory. The
# packages' own system services are not started: the tests start their
# servers themselves, as the current user, in temporary directories.
set -euo pipefail
declare -A packages=([prosody]=prosody [prosodyctl]=prosody [ejabberdctl]=ejabberd [erl]=ejabberd [gpg]=gnupg [go-sendxmpp]=go-sendxmpp [nginx]=nginx)
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
  # Keep the maintainer scripts from starting the system prosody/ejabberd
  # (invoke-rc.d asks policy-rc.d; 101 = action forbidden), unless the
  # machine already has a policy of its own.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null || status=$?
  if ((own_policy)); then $sudo rm -f "$policy"; fi
  ((status == 0)) || exit "$status"
fi
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "ERROR: $cmd is still missing after apt-get install" >&2; exit 1; }
done
[[ -x /usr/lib/gnupg/gpg-wks-client ]] || { echo "ERROR: gpg-wks-client is still missing after apt-get install" >&2; exit 1; }
