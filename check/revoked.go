package check

import (
	"fmt"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// RevokedSignerError: the message is signed by a revoked key, and the
// revocation voids the signature: the key was revoked as compromised, or
// without a reason (then nothing it ever signed can be trusted), or it was
// revoked for another reason (superseded, retired) before the signature
// was made.
type RevokedSignerError struct {
	Signer        pgp.Fingerprint
	Reason        pgp.RevocationReason
	Text          string // the revocation's own explanation, if any
	RevokedAt     time.Time
	SignatureTime time.Time
}

func (e *RevokedSignerError) Error() string {
	why := "as " + e.Reason.String()
	if e.Reason == pgp.RevocationNoReason {
		why = "without a reason"
	}
	s := fmt.Sprintf("check: the signing key %s was revoked %s on %s", e.Signer, why, e.RevokedAt.UTC().Format(time.RFC3339))
	if e.Text != "" {
		s += fmt.Sprintf(" (%q)", e.Text)
	}
	if e.Reason.Hard() {
		return s + ": nothing it signed can be trusted"
	}
	return s + ", before it signed this message at " + e.SignatureTime.UTC().Format(time.RFC3339)
}

// revokedSigner is the receiver's rule for a revoked signing key
// (pgp.KeyInfo.RevocationVoids, RFC 9580 §5.2.3.31): a hard revocation
// (compromised, or no reason) refuses every message the key signed; a soft
// one (superseded, retired) only those signed at or after the revocation,
// so that messages from before it (an offline message, the archive) still
// read. It comes before the backend's verdict on the signature, which
// refuses such a message too (go-crypto, gpg's REVKEYSIG), so that the
// user hears why.
func revokedSigner(o *pgp.Opened) error {
	k := o.Signer
	if k != nil && k.RevocationVoids(o.SignatureTime) {
		return &RevokedSignerError{Signer: k.Fingerprint, Reason: k.RevocationReason, Text: k.RevocationText, RevokedAt: k.RevokedAt, SignatureTime: o.SignatureTime}
	}
	return nil
}
