// Package ox implements OpenPGP for XMPP (XEP-0373 "OX") and its instant
// messaging profile (XEP-0374) for Go programs.
//
// A Client is one account's OX, over a mellium.im/xmpp session (see Dial)
// or without one (OpenLocal: keys, trust, Encrypt and Decrypt need no
// server). It publishes the account's keys over PEP and fetches and follows
// its contacts' keys (Publish, Fetch, HandleEvent), backs up and restores
// the secret key (BackupPush, BackupRestore, ExportBackup, OpenBackup), and
// sends and receives <signcrypt/> messages with every check a receiver must
// make.
//
// There is one way out and one way in. Every message sent (Send, a room
// message of package muc, Encrypt) is sealed by Seal, to keys resolved by
// one rule (announced, usable, trusted: never a rejected or undecided key).
// Every message received (live, from the server's offline store, a carbon
// copy, the archive of package mam, a room's history, a message kept as
// pending, Decrypt) goes through Process: the stanza is parsed once,
// opened, checked (package check), judged by the user's trust, deduplicated
// by the server's stanza-id, refused as a replay if its signed content was
// accepted before, and delivered: to OnMessage, exactly one verdict per
// stanza (a message, a rejection with its reason, or pending).
//
// Serve runs the session: the handler takes stanzas off the session's
// goroutine, which never waits: a worker reads them in order, and past its
// queue they wait in the store. Every request to the server has a deadline
// (RequestTimeout) and fails at once with ErrConnectionLost when the stream
// ends; idle sessions are pinged. Close stops what the Client started.
//
// Features stand beside the Client and register with it (Handle,
// OnAccepted, OnProcessed, SetGroupAttributor, SetPublicKeySource): package
// muc (group chat in non-anonymous rooms), mam (catching up from the
// archive) and wot (the web of trust over XMPP). The Client knows nothing
// of them.
//
// Dial logs in over verified TLS only and fails on any failed step of
// stream negotiation. Its SASL exchange is ox's own over mellium.im/sasl:
// mellium.im/xmpp's SASL feature picks channel binding by TLS version
// alone and reports a <failure/> as a value of its internal saslerr
// package, which has no public equivalent; ox picks by the server's
// XEP-0440 announcement and reads the failure itself (AuthError). It
// enables stream management (XEP-0198) wherever the server offers it; a
// program that stays online sets Account.Resumable, takes ResumptionOf
// the session when its connection is lost, and gives it to the next Dial
// (Account.Resume) to take the session over (Negotiated.Resumed), as ox
// listen and ox daemon do; a send whose confirmation the lost connection
// took (UnknownOutcomeError) is then settled by Client.Confirm.
//
// The module is layered from the wire inwards; each layer is its own package:
//
//	element      wire elements of XEP-0373/0374/0420: built strictly, parsed tolerantly
//	pep          the XEP-0060/0163 operations OX needs, with publish-options fallbacks
//	backup       the XEP-0373 §5 backup code and encryption
//	pgp          the crypto boundary: fingerprints, key information, the Backend interface
//	pgp/native   the embedded backend: ProtonMail/go-crypto over the SQLite store
//	check        the receiver checks every incoming OX message goes through
//	store        the embedded SQLite database of one account
//	trust        trust states and policies
//	ox (here)    the Client: the one send path and the one receive pipeline
//	muc, mam, wot  features that stand on the Client
//	cmd/ox       the command-line client: a face of the Client
//
// Arrows point down only (TestLayers checks every import): element, check,
// backup and the backends know nothing of XMPP sessions, pep knows nothing
// of OpenPGP, the Client nothing of its features, and cmd/ox imports the
// Client, its features and the types it prints.
package ox
