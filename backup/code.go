package backup

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Alphabet of backup codes (XEP-0373 §5.4): no 0 or O.
const Alphabet = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"

// Shape of a backup code: codeChars characters from Alphabet, shown in
// groups of codeGroup joined by '-' ("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW").
const (
	codeChars = 24
	codeGroup = 4
	// codeLen is the length of the canonical form, dashes included: 29.
	codeLen = codeChars + codeChars/codeGroup - 1
)

// Code is a backup code in its canonical form: 24 characters from Alphabet
// in six groups of four joined by '-'. NewCode and ParseCode return canonical
// codes; Encrypt and Decrypt canonicalize the codes they are given.
//
// A code is a secret: do not log it.
type Code string

// String returns the code as shown to the user (and as used as the
// passphrase): "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX".
func (c Code) String() string { return string(c) }

// randReader is crypto/rand's Reader; tests replace it to check the
// sampling.
var randReader io.Reader = rand.Reader

// NewCode returns a fresh backup code from a cryptographically secure random
// source. Every character is uniform over Alphabet: random bytes of 238 or
// more (7×34) are rejected rather than folded with a modulo, which would make
// the first 18 characters of Alphabet more likely than the others.
func NewCode() (Code, error) {
	const limit = 256 - 256%len(Alphabet) // 238
	var chars [codeChars]byte
	var buf [32]byte
	n := 0
	for n < codeChars {
		if _, err := io.ReadFull(randReader, buf[:]); err != nil {
			return "", fmt.Errorf("backup: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			chars[n] = Alphabet[int(b)%len(Alphabet)]
			n++
			if n == codeChars {
				break
			}
		}
	}
	return format(chars[:]), nil
}

// format joins codeChars characters into groups.
func format(chars []byte) Code {
	var b strings.Builder
	b.Grow(codeLen)
	for i, c := range chars {
		if i > 0 && i%codeGroup == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(c)
	}
	return Code(b.String())
}

// CodeError says why a string is not a backup code. Its message never
// repeats the whole input: the code is a secret.
type CodeError struct {
	// Char is the character that is not in Alphabet, Pos its position in
	// the input (counted in characters from 1, dashes and spaces included)
	// and Group the group of four it falls in (from 1). All are zero for a
	// code of the wrong length.
	Char  rune
	Pos   int
	Group int
	// Len is the number of code characters found (dashes and white space
	// are not counted) when the length is wrong.
	Len int
}

func (e *CodeError) Error() string {
	if e.Char != 0 {
		return fmt.Sprintf("backup: invalid backup code: character %d, %q (in group %d), is not allowed: a backup code has only the digits 1-9 and the letters A-Z except O", e.Pos, e.Char, e.Group)
	}
	return fmt.Sprintf("backup: invalid backup code: it has %d characters, want %d (six groups of four, like XXXX-XXXX-XXXX-XXXX-XXXX-XXXX)", e.Len, codeChars)
}

// ParseCode reads a backup code as people type it: upper or lower case, with
// or without the dashes, with spaces instead of (or besides) the dashes, and
// with white space around it. It returns the canonical form, or a *CodeError
// that says which character is not in Alphabet, and where, or that the
// length is wrong.
func ParseCode(s string) (Code, error) {
	chars := make([]byte, 0, codeChars)
	pos := 0
	for _, r := range s {
		pos++
		if r == '-' || unicode.IsSpace(r) {
			continue
		}
		u := r
		if 'a' <= u && u <= 'z' {
			u -= 'a' - 'A'
		}
		if u > unicode.MaxASCII || strings.IndexByte(Alphabet, byte(u)) < 0 {
			return "", &CodeError{Char: r, Pos: pos, Group: len(chars)/codeGroup + 1}
		}
		chars = append(chars, byte(u))
	}
	if len(chars) != codeChars {
		return "", &CodeError{Len: len(chars)}
	}
	return format(chars), nil
}
