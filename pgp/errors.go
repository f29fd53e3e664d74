package pgp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no key with that fingerprint or user ID is stored.
	ErrNotFound = errors.New("pgp: key not found")
	// ErrNoSecretKey: the operation needs a secret key that is not at hand.
	ErrNoSecretKey = errors.New("pgp: no secret key")
	// ErrMalformed: the input is not an OpenPGP message or key ox can read.
	ErrMalformed = errors.New("pgp: malformed OpenPGP data")
	// ErrTampered: the message was changed after it was encrypted, or is damaged.
	ErrTampered = errors.New("pgp: message is damaged or was tampered with")
	// ErrTooLarge: the message inflates beyond the configured limit.
	ErrTooLarge = errors.New("pgp: message is too large")
	// ErrNotEncrypted: a message that must be encrypted is not.
	ErrNotEncrypted = errors.New("pgp: message is not encrypted")
	// ErrUnsupportedKey: the key is not one OX can use (not v4, no usable self-signature).
	ErrUnsupportedKey = errors.New("pgp: unsupported key")
)

// UnusableReason says why a key cannot be used.
type UnusableReason int

// The reasons a key cannot be used.
const (
	ReasonExpired UnusableReason = iota + 1
	ReasonRevoked
	ReasonNoEncryptionKey
	ReasonNoSigningKey
)

func (r UnusableReason) String() string {
	switch r {
	case ReasonExpired:
		return "expired"
	case ReasonRevoked:
		return "revoked"
	case ReasonNoEncryptionKey:
		return "has no usable encryption subkey"
	case ReasonNoSigningKey:
		return "has no usable signing key"
	}
	return "unusable"
}

// KeyUnusableError: a key cannot be used now, and why.
type KeyUnusableError struct {
	Fingerprint Fingerprint
	Reason      UnusableReason
	At          time.Time // when it expired or was revoked, if known
}

func (e *KeyUnusableError) Error() string {
	s := "pgp: key " + e.Fingerprint.String() + " " + e.Reason.String()
	if !e.At.IsZero() && (e.Reason == ReasonExpired || e.Reason == ReasonRevoked) {
		s += " on " + e.At.UTC().Format(time.RFC3339)
	}
	return s
}

// NoDecryptionKeyError: the message is encrypted, but to none of the keys at hand.
type NoDecryptionKeyError struct {
	KeyIDs []uint64 // the key IDs the message is encrypted to
}

func (e *NoDecryptionKeyError) Error() string {
	ids := make([]string, len(e.KeyIDs))
	for i, id := range e.KeyIDs {
		ids[i] = KeyIDString(id)
	}
	return "pgp: message is not encrypted to any of your keys (it is for key IDs " + strings.Join(ids, ", ") + ")"
}

// SignatureError: the message's signature cannot be accepted. Reason says
// why; Unknown is set when the signer's key is not stored.
type SignatureError struct {
	KeyID   uint64 // the issuer's key ID, if the signature names one
	Unknown bool   // the signer's key is not stored: fetch it and try again
	Reason  string
	Err     error // the underlying library error, if any
}

func (e *SignatureError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("pgp: message is signed by an unknown key (key ID %s)", KeyIDString(e.KeyID))
	}
	return "pgp: bad signature: " + e.Reason
}

func (e *SignatureError) Unwrap() error { return e.Err }
