// Package ox implements OpenPGP for XMPP (XEP-0373 "OX") and its instant
// messaging profile (XEP-0374) for Go programs.
//
// The module is layered from the wire inwards; each layer is its own package:
//
//	element      wire elements of XEP-0373/0374/0420: built strictly, parsed tolerantly
//	pgp          the crypto boundary: fingerprints, key information, the Backend interface
//	pgp/native   the embedded backend: ProtonMail/go-crypto over the SQLite store
//	check        the receiver checks every incoming OX message goes through
//	store        the embedded SQLite database of one account
//	cmd/ox       the command-line client
//
// Arrows point down only: element and check know nothing of XMPP sessions,
// and the pgp backends know nothing of XML.
package ox
