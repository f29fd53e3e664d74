package pgp

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// RevocationReason is the reason code of a key revocation signature
// (RFC 4880 §5.2.3.23, RFC 9580 §5.2.3.31).
type RevocationReason uint8

// The reasons a key is revoked for.
const (
	// RevocationNoReason: no reason given (0x00). A revocation certificate
	// made ahead of time says this, since nobody knows then why it will be
	// used.
	RevocationNoReason RevocationReason = 0
	// RevocationSuperseded: the key is replaced by a new one (0x01).
	RevocationSuperseded RevocationReason = 1
	// RevocationCompromised: the secret key is no longer secret (0x02).
	RevocationCompromised RevocationReason = 2
	// RevocationRetired: the key is no longer used (0x03).
	RevocationRetired RevocationReason = 3
)

// String is the name ox uses on the command line: "compromised",
// "superseded", "retired", or "none".
func (r RevocationReason) String() string {
	switch r {
	case RevocationNoReason:
		return "none"
	case RevocationSuperseded:
		return "superseded"
	case RevocationCompromised:
		return "compromised"
	case RevocationRetired:
		return "retired"
	}
	return fmt.Sprintf("reason %d", uint8(r))
}

// Hard reports whether the revocation voids every signature the key ever
// made, also those made before the revocation: a compromised key, or one
// revoked without a reason or with a reason ox does not know. RFC 9580
// §5.2.3.31 calls these hard revocations; superseded and retired keys are
// soft-revoked, and what they signed before the revocation stays valid.
func (r RevocationReason) Hard() bool {
	return r != RevocationSuperseded && r != RevocationRetired
}

// ParseRevocationReason reads a reason's name (see String).
func ParseRevocationReason(s string) (RevocationReason, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "":
		return RevocationNoReason, nil
	case "superseded":
		return RevocationSuperseded, nil
	case "compromised":
		return RevocationCompromised, nil
	case "retired":
		return RevocationRetired, nil
	}
	return 0, fmt.Errorf("pgp: unknown revocation reason %q: want compromised, superseded, retired or none", s)
}

// RevokeOptions say why a key is revoked.
type RevokeOptions struct {
	Reason RevocationReason
	// Text is a human-readable explanation; it goes into the signature.
	Text string
}

// KeyLifecycle is a backend that can revoke and renew own keys. Both ox
// backends implement it.
type KeyLifecycle interface {
	// Revoke revokes the own key fpr with a key revocation signature
	// (type 0x20) carrying opts' reason and text, and stores it: from then
	// on the key is revoked (KeyInfo.Revoked) and ExportPublic carries the
	// revocation. The secret key must be at hand (ErrNoSecretKey).
	Revoke(ctx context.Context, fpr Fingerprint, opts RevokeOptions) (KeyInfo, error)
	// RevocationCertificate returns an armored revocation certificate for
	// the own key fpr, without a reason (RevocationNoReason), to be kept
	// apart from the key: with it the key can be revoked once its secret is
	// lost (ApplyRevocation). Nothing is revoked by making it.
	RevocationCertificate(ctx context.Context, fpr Fingerprint) ([]byte, error)
	// ApplyRevocation reads a revocation certificate (binary or armored,
	// also GnuPG's openpgp-revocs.d files with their guarding colon) and
	// stores it with the key it revokes, which must be stored; no secret
	// key is needed. It returns the revoked key.
	ApplyRevocation(ctx context.Context, cert []byte) (KeyInfo, error)
	// Renew sets the expiry of the own key fpr and of its subkeys that are
	// not revoked to expiry from now (zero: never), with new
	// self-signatures, and stores them.
	Renew(ctx context.Context, fpr Fingerprint, expiry time.Duration) (KeyInfo, error)
}

// UnguardRevocation takes away the colon GnuPG puts before the armor line
// of the certificates in openpgp-revocs.d (":-----BEGIN PGP PUBLIC KEY
// BLOCK-----"), so that the certificate is not imported by accident; a
// certificate without it is returned as it is.
func UnguardRevocation(data []byte) []byte {
	const guarded = ":-----BEGIN PGP"
	i := bytes.Index(data, []byte(guarded))
	if i < 0 {
		return data
	}
	if i > 0 && data[i-1] != '\n' {
		return data
	}
	out := make([]byte, 0, len(data)-1)
	out = append(out, data[:i]...)
	return append(out, data[i+1:]...)
}

// ExpiryLifetime turns an expiry from now into a key lifetime counted from
// the key's creation, as OpenPGP states it (RFC 4880 §5.2.3.6): zero for
// never; an error when it does not fit 32 bits of seconds.
func ExpiryLifetime(created, now time.Time, expiry time.Duration) (uint32, error) {
	if expiry < 0 {
		return 0, fmt.Errorf("pgp: negative key expiry %v", expiry)
	}
	if expiry == 0 {
		return 0, nil
	}
	secs := now.Add(expiry).Sub(created) / time.Second
	if secs <= 0 || secs > 1<<32-1 {
		return 0, fmt.Errorf("pgp: key expiry %v is longer than OpenPGP can say (136 years from the key's creation)", expiry)
	}
	return uint32(secs), nil
}

// severity orders reasons by how much of what the key signed they void:
// a compromise, then a revocation without a (known) reason (both hard),
// then the soft ones.
func (r RevocationReason) severity() int {
	switch {
	case r == RevocationCompromised:
		return 2
	case r.Hard():
		return 1
	}
	return 0
}

// NoteRevocation records one valid revocation of the key in k (the
// backends call it for each they find): the key is revoked, and the reason,
// text and time k reports are those of the gravest revocation (see
// severity), the earliest among equally grave ones, whatever order the
// revocations come in.
func (k *KeyInfo) NoteRevocation(reason RevocationReason, at time.Time, text string) {
	at = at.UTC()
	s, cur := reason.severity(), k.RevocationReason.severity()
	if !k.Revoked || s > cur || s == cur && at.Before(k.RevokedAt) {
		k.Revoked, k.RevokedAt, k.RevocationReason, k.RevocationText = true, at, reason, text
	}
}

// RevocationVoids reports whether the key's revocation voids a signature
// it made at signed (RFC 9580 §5.2.3.31): any signature when the
// revocation is hard (compromised, or no reason), only those made at or
// after the revocation when it is soft (superseded, retired), so that what
// the key signed before it was retired still reads.
func (k *KeyInfo) RevocationVoids(signed time.Time) bool {
	return k.Revoked && (k.RevocationReason.Hard() || !signed.Before(k.RevokedAt))
}

// RenewBefore is how long before an own key expires ox tells its owner to
// renew it: time enough for contacts to fetch the renewed key before the
// old expiry.
const RenewBefore = 30 * 24 * time.Hour

// ExpiresSoon reports whether the key, usable at now, expires within
// RenewBefore of it: the owner should renew it (KeyLifecycle.Renew) and
// publish it again.
func (k *KeyInfo) ExpiresSoon(now time.Time) bool {
	return !k.Revoked && !k.Expires.IsZero() && !k.Expired(now) && k.Expires.Sub(now) <= RenewBefore
}
