// Package prosody starts a real Prosody XMPP server on loopback for tests.
//
// Each server is a child process of the test (prosody -F, never daemonized),
// configured from an embedded template in a directory owned by the caller:
// config, a throw-away CA and leaf certificate made in Go, the data store and
// the log all live there. It listens on 127.0.0.1 only, on ports picked at
// random, so several servers (and a developer's own lab server on 5222) can
// run side by side. Stop ends exactly the process that Start launched, by its
// PID, and nothing else.
//
// The server has the modules OX (XEP-0373/0374) needs: PEP with a high
// pep_max_items, MAM that archives everything and never expires, offline
// storage, carbons, smacks, blocklist, and a MUC component (conference.DOMAIN)
// whose rooms are non-anonymous, persistent and open. Encryption is required on
// c2s: STARTTLS on Server.Addr and direct TLS (XEP-0368) on Server.TLSAddr.
// Options.HTTPFileShare adds mod_http_file_share (XEP-0363) over HTTPS on
// Server.HTTPSAddr.
//
// Tests normally use StartT, which skips when Prosody is not installed, unless
// CI is set or OX_REQUIRE_INTEGRATION=1, in which case it fails:
//
//	srv := prosody.StartT(t, prosody.Options{Accounts: map[string]string{"alice": "pw"}})
//	sess, err := srv.Dial(ctx, "alice", "pw", "test")
package prosody
