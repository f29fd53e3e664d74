// Package pgp is ox's crypto boundary: OpenPGP v4 fingerprints, what ox needs
// to know about a key (KeyInfo), the Backend interface that the embedded
// go-crypto backend (package pgp/native) and the GnuPG backend implement, and
// the typed errors callers tell apart.
//
// Nothing here knows about XML or XMPP sessions; JIDs appear only as the
// "xmpp:" user IDs that bind a key to an address (XEP-0373 §8.5 "OpenPGP User
// IDs").
package pgp
