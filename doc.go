// Package ox implements OpenPGP for XMPP (XEP-0373 "OX") and its instant
// messaging profile (XEP-0374) for Go programs.
//
// A Client is one account's OX over a mellium.im/xmpp session (see Dial):
// it publishes the account's keys over PEP and fetches and follows its
// contacts' keys (Publish, Fetch, HandleEvent), backs up and restores the
// secret key (BackupPush, BackupRestore), and sends and receives
// <signcrypt/> messages with every check a receiver must make (Send,
// Serve with OnMessage, Receive). Messages seen live, from the server's
// offline store and as carbon copies are handed over once each. The web of
// trust travels over XMPP too: Certify certifies a contact's key and sends
// the certification; a certification received is an offer
// (Message.Certification) to accept into the own key (AcceptCertification)
// and publish with it (PublishCertifications).
//
// Dial logs in over verified TLS only and fails on any failed step of
// stream negotiation. Its SASL exchange is ox's own over mellium.im/sasl:
// mellium.im/xmpp's SASL feature picks channel binding by TLS version
// alone and reports a <failure/> as a value of its internal saslerr
// package, which has no public equivalent; ox picks by the server's
// XEP-0440 announcement and reads the failure itself (AuthError).
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
//	cmd/ox       the command-line client
//
// Arrows point down only: element, check, backup and the backends know
// nothing of XMPP sessions, and pep knows nothing of OpenPGP.
package ox
