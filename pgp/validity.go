package pgp

import (
	"context"
)

// The values of KeyInfo.Validity: GnuPG's validity of a key (of its xmpp:
// user ID), as gpg's colon listings give it (field 2 of a "uid" record, in
// GnuPG's doc/DETAILS).
const (
	// ValidityUltimate: an own key, or a key the user trusts ultimately.
	ValidityUltimate = "ultimate"
	// ValidityFull: the user, or enough of the introducers the user
	// trusts, certified it (pgp), or the user set its TOFU policy to good;
	// under the trust model "always" every usable key is fully valid.
	ValidityFull = "full"
	// ValidityMarginal: certified by marginally trusted introducers only
	// (pgp), or seen without conflict (TOFU's default policy, auto). gpg
	// encrypts to it, with a warning.
	ValidityMarginal = "marginal"
	// ValidityNever: the user said the binding is false (TOFU policy bad).
	ValidityNever = "never"
	// ValidityUnknown: nothing makes the key valid; gpg refuses to encrypt
	// to it ("There is no assurance this key belongs to the named user").
	ValidityUnknown = "unknown"
	// ValidityExpired and ValidityRevoked: the key (or its user ID) has
	// expired or is revoked.
	ValidityExpired = "expired"
	ValidityRevoked = "revoked"
)

// UserIDAdder is a backend that can add a user ID to an own key, signed
// with that key's secret (for a key that lacks the "xmpp:" user ID of the
// account it is to serve). Both ox backends implement it.
type UserIDAdder interface {
	// AddUserID adds uid to the own key fpr with a self-signature that
	// keeps the key's expiry. A key that already carries uid is left as it
	// is. The key must be stored with its secret (ErrNoSecretKey).
	AddUserID(ctx context.Context, fpr Fingerprint, uid string) error
}
