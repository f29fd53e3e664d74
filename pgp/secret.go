package pgp

import (
	"context"
	"errors"
	"fmt"
)

// Errors about the secret keys at rest; match them with errors.Is or
// errors.As.
var (
	// ErrBadPassphrase: the passphrase does not unlock the secret key (or
	// the protected key is damaged: OpenPGP cannot tell the two apart).
	ErrBadPassphrase = errors.New("pgp: wrong passphrase")
	// ErrKeyLocked: the secret key is protected by a passphrase and none
	// was given.
	ErrKeyLocked = errors.New("pgp: the secret key is protected by a passphrase")
)

// PassphraseChanger is a backend that protects its own secret keys with a
// passphrase itself (the native backend; GnuPG has gpg --passwd).
type PassphraseChanger interface {
	// ChangePassphrase protects the own key fpr with newPassphrase, or
	// removes its protection when newPassphrase is empty. A protected key
	// is unlocked first, as for any use of it.
	ChangePassphrase(ctx context.Context, fpr Fingerprint, newPassphrase []byte) error
}

// PassphraseError: a protected secret key could not be unlocked. Err is
// ErrBadPassphrase, ErrKeyLocked, or the passphrase source's own error.
type PassphraseError struct {
	Fingerprint Fingerprint // the primary key's
	Err         error
}

func (e *PassphraseError) Error() string {
	switch {
	case errors.Is(e.Err, ErrBadPassphrase):
		return "pgp: wrong passphrase for your key " + e.Fingerprint.String()
	case errors.Is(e.Err, ErrKeyLocked):
		return "pgp: your key " + e.Fingerprint.String() + " is protected by a passphrase, and none was given"
	}
	return fmt.Sprintf("pgp: no passphrase for your key %s: %v", e.Fingerprint, e.Err)
}

func (e *PassphraseError) Unwrap() error { return e.Err }

// DamagedKeyError: a stored key cannot be used because its stored bytes
// are damaged: they do not parse, or a part the operation needs (the
// encryption subkey of a message addressed to it) is missing or invalid.
// It is the key's fault, not the message's.
type DamagedKeyError struct {
	Fingerprint Fingerprint
	Secret      bool   // an own key (with its secret part)
	Detail      string // what is wrong
	Err         error  // the library's error, if any
}

func (e *DamagedKeyError) Error() string {
	what := "the stored key "
	if e.Secret {
		what = "your secret key "
	}
	s := "pgp: " + what + e.Fingerprint.String() + " is damaged"
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *DamagedKeyError) Unwrap() error { return e.Err }

// Hint says what to do; ox prints it under the error.
func (e *DamagedKeyError) Hint() string {
	if e.Secret {
		return "restore your key from a backup ('ox backup restore', or 'ox key import FILE' with an export)"
	}
	return "import the contact's key again ('ox cert import FILE' or 'ox cert fetch JID')"
}

// Hint says what to do; ox prints it under the error.
func (e *PassphraseError) Hint() string {
	if errors.Is(e.Err, ErrKeyLocked) {
		return "give it in OX_KEY_PASSPHRASE, with a passphrase command ('ox key passwd --command'), or run ox on a terminal to be asked"
	}
	return "check the passphrase (OX_KEY_PASSPHRASE, the passphrase command, or the prompt)"
}

// UnprotectedExporter is a backend that can write an own protected key
// unprotected, unlocking it first (as for any use): the secret-key backup
// of XEP-0373 §5.4 wants S2K usage 0 in its key packets, since the backup
// code protects them.
type UnprotectedExporter interface {
	ExportSecretUnprotected(ctx context.Context, fpr Fingerprint) ([]byte, error)
}
