package pgp

import (
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// UserIDPrefix starts the user ID that binds a key to an XMPP address
// (XEP-0373 §8.5): "xmpp:" followed by the bare JID.
const UserIDPrefix = "xmpp:"

// UserID is the OX user ID for an account: "xmpp:" + the normalised bare JID.
func UserID(j jid.JID) string { return UserIDPrefix + j.Bare().String() }

// JIDFromUserID returns the bare JID of an "xmpp:" user ID, normalised, or
// false when uid is not exactly such a user ID (a name, an e-mail address,
// or an "xmpp:" URI with a resource or query is not).
func JIDFromUserID(uid string) (jid.JID, bool) {
	if !strings.HasPrefix(uid, UserIDPrefix) {
		return jid.JID{}, false
	}
	j, err := jid.Parse(uid[len(UserIDPrefix):])
	if err != nil || j.Resourcepart() != "" || j.Localpart() == "" && j.Domainpart() == "" {
		return jid.JID{}, false
	}
	return j, true
}

// Capabilities are what a key or subkey may be used for (RFC 4880 §5.2.3.21).
type Capabilities struct {
	Certify, Sign, Encrypt, Authenticate bool
}

// String is gpg's capability letters: c, s, e, a.
func (c Capabilities) String() string {
	var b strings.Builder
	for _, x := range []struct {
		on bool
		l  byte
	}{{c.Certify, 'C'}, {c.Sign, 'S'}, {c.Encrypt, 'E'}, {c.Authenticate, 'A'}} {
		if x.on {
			b.WriteByte(x.l)
		}
	}
	return b.String()
}

// Subkey describes one subkey of a key.
type Subkey struct {
	Fingerprint  Fingerprint
	Algorithm    string
	Created      time.Time
	Expires      time.Time // zero: never
	Revoked      bool
	Capabilities Capabilities
}

// KeyInfo is what ox knows about a key without its secret parts: enough to
// list it, show it, and decide whether it can be used, without parsing the
// key again.
type KeyInfo struct {
	Fingerprint  Fingerprint
	Algorithm    string
	Created      time.Time
	Expires      time.Time // zero: never; the primary key's expiry
	Revoked      bool
	RevokedAt    time.Time
	Capabilities Capabilities
	// UserIDs are the user IDs with a valid, unrevoked self-signature.
	UserIDs []string
	Subkeys []Subkey
	// Secret tells whether secret key material is at hand (own keys).
	Secret bool
	// Protected tells whether the secret key is stored protected by a
	// passphrase (the native backend; GnuPG keeps its own).
	Protected bool `json:",omitempty"`
	// Validity is what the user's own trust model says of the key: GnuPG's
	// validity of its xmpp: user ID (the lowest, where it has several; of
	// the primary key where it has none) under the trust model of the
	// user's gpg.conf (pgp, tofu, tofu+pgp, direct, always), one of the
	// Validity* names. It is empty where the backend has no trust model
	// (the native backend) and for keys described without being stored
	// (Inspect).
	Validity string `json:",omitempty"`
	// Certifications are the third-party certifications of the user IDs
	// in UserIDs (the web of trust), one per user ID and certifier, sorted
	// by user ID and certifier; certifications their issuer revoked are
	// left out.
	Certifications []Certification `json:",omitempty"`
	// RevocationReason and RevocationText are those of the key's
	// revocation (RFC 4880 §5.2.3.23): of a hard one where it has several
	// (see RevocationReason.Hard), else of the earliest. Zero unless
	// Revoked; a key whose revocation gives no reason is hard-revoked.
	RevocationReason RevocationReason `json:",omitempty"`
	RevocationText   string           `json:",omitempty"`
}

// Certification is a certification of one of a key's user IDs by another
// key (an OpenPGP signature of type 0x10 to 0x13, RFC 4880 §5.2.1).
type Certification struct {
	UserID string
	// Issuer is the certifying key's fingerprint; zero when the signature
	// names only a key ID (IssuerKeyID) and that key is not stored.
	Issuer      Fingerprint
	IssuerKeyID uint64
	Created     time.Time
	// Verified reports that the issuer's key is stored and the signature
	// checks out against it; an unverified certification proves nothing.
	Verified bool
}

// CertifiedBy returns k's verified certification of the user ID uid by the
// key issuer, if it has one.
func (k *KeyInfo) CertifiedBy(issuer Fingerprint, uid string) (Certification, bool) {
	for _, c := range k.Certifications {
		if c.Verified && c.Issuer == issuer && c.UserID == uid {
			return c, true
		}
	}
	return Certification{}, false
}

// HasUserID reports whether the key carries the user ID "xmpp:<bare j>".
// Both sides are compared as normalised bare JIDs (XEP-0373 §7.3).
func (k *KeyInfo) HasUserID(j jid.JID) bool {
	want := j.Bare()
	for _, uid := range k.UserIDs {
		if u, ok := JIDFromUserID(uid); ok && u.Equal(want) {
			return true
		}
	}
	return false
}

// XMPPAddresses lists the bare JIDs of the key's "xmpp:" user IDs.
func (k *KeyInfo) XMPPAddresses() []jid.JID {
	var out []jid.JID
	for _, uid := range k.UserIDs {
		if u, ok := JIDFromUserID(uid); ok {
			out = append(out, u)
		}
	}
	return out
}

// Expired reports whether the key has expired at t.
func (k *KeyInfo) Expired(t time.Time) bool {
	return !k.Expires.IsZero() && !t.Before(k.Expires)
}

// CanEncrypt reports whether the key has a subkey (or primary key) that can
// receive messages at t.
func (k *KeyInfo) CanEncrypt(t time.Time) bool {
	if k.Capabilities.Encrypt {
		return true
	}
	for _, s := range k.Subkeys {
		if s.Capabilities.Encrypt && !s.Revoked && (s.Expires.IsZero() || t.Before(s.Expires)) {
			return true
		}
	}
	return false
}

// Usable returns nil when the key can be encrypted to at t, and otherwise a
// *KeyUnusableError that says why: revoked, expired, or no encryption subkey.
func (k *KeyInfo) Usable(t time.Time) error {
	switch {
	case k.Revoked:
		return &KeyUnusableError{Fingerprint: k.Fingerprint, Reason: ReasonRevoked, At: k.RevokedAt}
	case k.Expired(t):
		return &KeyUnusableError{Fingerprint: k.Fingerprint, Reason: ReasonExpired, At: k.Expires}
	case !k.CanEncrypt(t):
		return &KeyUnusableError{Fingerprint: k.Fingerprint, Reason: ReasonNoEncryptionKey}
	}
	return nil
}

// CanSign reports whether the key has a signing key valid at t: the primary
// key, or a signing subkey (GnuPG users' keys often certify only with the
// primary key and sign with a subkey).
func (k *KeyInfo) CanSign(t time.Time) bool {
	if k.Revoked || k.Expired(t) {
		return false
	}
	if k.Capabilities.Sign {
		return true
	}
	for _, s := range k.Subkeys {
		if s.Capabilities.Sign && !s.Revoked && (s.Expires.IsZero() || t.Before(s.Expires)) {
			return true
		}
	}
	return false
}
