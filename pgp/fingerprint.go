package pgp

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Fingerprint is an OpenPGP v4 fingerprint (RFC 4880 §12.2): XEP-0373 §6.1
// restricts OX to v4 keys.
type Fingerprint [20]byte

// ParseFingerprint reads a v4 fingerprint written the ways people and clients
// write it: upper or lower case, with spaces in groups, or as an
// "OPENPGP4FPR:" URI.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	t := strings.TrimSpace(s)
	if len(t) >= 12 && strings.EqualFold(t[:12], "openpgp4fpr:") {
		t = t[12:]
	}
	t = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == ':' {
			return -1
		}
		return r
	}, t)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	if len(t) != 40 {
		return f, fmt.Errorf("pgp: %q is not a v4 fingerprint: want 40 hexadecimal digits, got %d", s, len(t))
	}
	if _, err := hex.Decode(f[:], []byte(t)); err != nil {
		return f, fmt.Errorf("pgp: %q is not a v4 fingerprint: %w", s, err)
	}
	return f, nil
}

// FingerprintFromBytes converts the bytes of a v4 fingerprint.
func FingerprintFromBytes(b []byte) (Fingerprint, bool) {
	var f Fingerprint
	if len(b) != len(f) {
		return f, false
	}
	copy(f[:], b)
	return f, true
}

// String is the OpenPGP v4 fingerprint string of XEP-0373 §4.1: upper-case
// hexadecimal without spaces.
func (f Fingerprint) String() string { return strings.ToUpper(hex.EncodeToString(f[:])) }

// Grouped is the fingerprint in groups of four, as people compare them.
func (f Fingerprint) Grouped() string {
	s := f.String()
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// KeyID is the 64-bit key ID of a v4 key: the low 64 bits of its fingerprint.
func (f Fingerprint) KeyID() uint64 { return binary.BigEndian.Uint64(f[12:]) }

// IsZero reports whether f is unset.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// KeyIDString formats a key ID as gpg does: 16 upper-case hex digits.
func KeyIDString(id uint64) string { return fmt.Sprintf("%016X", id) }

// MarshalText writes the fingerprint string, so JSON shows it as people read it.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads what ParseFingerprint reads.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	g, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*f = g
	return nil
}
