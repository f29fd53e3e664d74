// Package ejabberd starts a real ejabberd (Debian 12's 23.01) on loopback for
// tests, the second server beside internal/prosody.
//
// Each server is an Erlang VM that the test starts itself (erl -s ejabberd, as
// "ejabberdctl foreground" would, but as the current user and never
// daemonized), configured from an embedded template in a directory owned by
// the caller: ejabberd.yml, a throw-away CA and leaf certificate made in Go
// (internal/testcert), the Mnesia spool, the Erlang cookie and the logs all
// live there. c2s listens on 127.0.0.1 only, on ports picked at random; the
// Erlang distribution (used only by Register after start) listens on
// 127.0.0.1 on a random port without epmd, and the VM resolves names from a
// host table, never DNS. Stop ends exactly the process that Start launched,
// by its PID.
//
// The configuration is Debian's, cut to what a loopback test server needs:
// PEP (mod_pubsub with the pep plugin, server defaults), MAM that archives
// everything (Mnesia), offline storage, carbons, stream management, blocking,
// and a MUC service conference.DOMAIN. STARTTLS is required on Server.Addr;
// Server.TLSAddr is direct TLS (XEP-0368). Options.HTTPUpload adds
// mod_http_upload (XEP-0363) on a third port.
//
// Accounts in Options are registered by the VM itself as it starts, so a
// server with accounts is ready in about a second on this machine:
//
//	srv := ejabberd.StartT(t, ejabberd.Options{Accounts: map[string]string{"alice": "pw"}})
package ejabberd
