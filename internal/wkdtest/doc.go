// Package wkdtest serves a real Web Key Directory over HTTPS on loopback
// for the tests: nginx (Debian's) started from a config template in a
// temporary directory on a random 127.0.0.1 port, with a throw-away CA
// (internal/prosody's), and the key tree made by GnuPG's
// gpg-wks-client --install-key. The server is stopped by its PID when the
// test ends.
package wkdtest
