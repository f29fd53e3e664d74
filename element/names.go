package element

import (
	"fmt"
	"strings"
)

// Namespaces, node names and features.
const (
	// NS qualifies every OX element (XEP-0373 §3.1, §4, §5).
	NS = "urn:xmpp:openpgp:0"
	// NSIM is the disco feature of the OX instant messaging profile
	// (XEP-0374 §2.1).
	NSIM = "urn:xmpp:openpgp:im:0"
	// NodePublicKeys is the public key metadata node (XEP-0373 §4.2).
	NodePublicKeys = "urn:xmpp:openpgp:0:public-keys"
	// NodeSecretKey is the secret key backup node (XEP-0373 §5).
	NodeSecretKey = "urn:xmpp:openpgp:0:secret-key"
	// FeaturePublicKeysNotify asks for metadata node notifications
	// (XEP-0373 §4.5, XEP-0163 +notify).
	FeaturePublicKeysNotify = NodePublicKeys + "+notify"
	// NSEME is Explicit Message Encryption (XEP-0380).
	NSEME = "urn:xmpp:eme:0"
	// NSHints is Message Processing Hints (XEP-0334).
	NSHints = "urn:xmpp:hints"
	// NSClient is the client stanza namespace (RFC 6120 §4.8.3).
	NSClient = "jabber:client"
	// NSServer is the server stanza namespace; <body/> may be qualified by
	// it too (XEP-0374 §2.2).
	NSServer = "jabber:server"
	// NSDelay is Delayed Delivery (XEP-0203).
	NSDelay = "urn:xmpp:delay"
	// NSChatStates is Chat State Notifications (XEP-0085).
	NSChatStates = "http://jabber.org/protocol/chatstates"
	// NSStanzaID is XEP-0359 Unique and Stable Stanza IDs.
	NSStanzaID = "urn:xmpp:sid:0"
)

// DataNode returns the public key data node of a key:
// NodePublicKeys + ":" + the upper-case v4 fingerprint (XEP-0373 §4.1).
// Spaces are removed and the fingerprint upper-cased; it is not otherwise
// checked (use NormalizeFingerprint first when it comes from outside).
func DataNode(fpr string) string {
	return NodePublicKeys + ":" + strings.ToUpper(strings.ReplaceAll(fpr, " ", ""))
}

// ParseDataNode returns the upper-case fingerprint named by a public key
// data node (XEP-0373 §4.1). It accepts lower-case hex, and reports false
// for any other node (the metadata node, the secret key node, "+notify",
// fingerprints that are not 40 hex digits).
func ParseDataNode(node string) (fpr string, ok bool) {
	rest, found := strings.CutPrefix(node, NodePublicKeys+":")
	if !found || len(rest) != 40 || !isHex(rest) {
		return "", false
	}
	return strings.ToUpper(rest), true
}

// NormalizeFingerprint returns an OpenPGP v4 fingerprint in the form of
// XEP-0373 §4.1: 40 upper-case hex digits. It removes white space (GnuPG
// prints fingerprints in groups) and upper-cases; anything but 40 hex
// digits is an error wrapping ErrBadFingerprint.
func NormalizeFingerprint(s string) (string, error) {
	f := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '\u00a0':
			return -1
		}
		return r
	}, s)
	if len(f) != 40 || !isHex(f) {
		return "", fmt.Errorf("%w: %s", ErrBadFingerprint, quoteShort(s))
	}
	return strings.ToUpper(f), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
