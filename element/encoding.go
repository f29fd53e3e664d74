package element

import (
	"encoding/base64"
	"strings"
)

// Armor block types (RFC 4880 §6.2).
const (
	armorMessage   = "PGP MESSAGE"
	armorPublicKey = "PGP PUBLIC KEY BLOCK"
)

// decodeData decodes the text of an element that carries OpenPGP data:
// Base64 (RFC 4648 §4) as XEP-0373 §3.1, §4.1 and §5.4 require, read
// tolerantly (white space anywhere, missing padding, the URL-safe
// alphabet), or, against the spec (XEP-0373 §10.4) but seen in the wild,
// an ASCII-armored block of one of the given types, which is dearmored here.
// The decoded bytes must look like OpenPGP packets: the first octet of a
// packet header always has bit 7 set (RFC 4880 §4.2).
//
// It returns a reason string (for a ParseError) with ErrMissing or
// ErrBadData.
func decodeData(text string, armorTypes ...string) (data []byte, armored bool, reason string, sentinel error) {
	t := trimXMLSpace(text)
	if t == "" {
		return nil, false, "empty", ErrMissing
	}
	if strings.HasPrefix(t, "-----BEGIN ") {
		typ, body, ok := dearmor(t)
		if !ok {
			return nil, true, "malformed ASCII armor", ErrBadData
		}
		okType := false
		for _, a := range armorTypes {
			okType = okType || typ == a
		}
		if !okType {
			return nil, true, "unexpected ASCII armor block type " + quoteShort(typ), ErrBadData
		}
		t = body
		armored = true
	}
	data, err := decodeBase64(t)
	if err != nil {
		return nil, armored, "base64: " + err.Error(), ErrBadData
	}
	if len(data) == 0 {
		return nil, armored, "empty", ErrMissing
	}
	if data[0]&0x80 == 0 {
		return nil, armored, "not an OpenPGP packet (RFC 4880 §4.2)", ErrBadData
	}
	return data, armored, "", nil
}

// decodeBase64 decodes standard Base64 leniently: ASCII white space is
// ignored wherever it is, padding may be missing, and the URL-safe
// alphabet ("-", "_") is mapped to the standard one.
func decodeBase64(s string) ([]byte, error) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
		case '-':
			b = append(b, '+')
		case '_':
			b = append(b, '/')
		default:
			b = append(b, c)
		}
	}
	for len(b) > 0 && b[len(b)-1] == '=' {
		b = b[:len(b)-1]
	}
	return base64.RawStdEncoding.DecodeString(string(b))
}

// dearmor takes an ASCII-armored block (RFC 4880 §6.2) apart minimally:
// it returns the block type and the Base64 body, without the armor
// headers ("Key: value" lines), blank lines and the "=XXXX" CRC-24 line.
// The CRC is not checked: RFC 9580 §6.1 says it must not cause a
// rejection, and the OpenPGP layer has its own integrity protection.
// The armor must keep its line structure (one line per header, data
// line and CRC); the END line may be missing.
func dearmor(s string) (typ, body string, ok bool) {
	first, rest, _ := strings.Cut(s, "\n")
	first = trimXMLSpace(first)
	typ, found := strings.CutPrefix(first, "-----BEGIN ")
	if !found {
		return "", "", false
	}
	typ, found = strings.CutSuffix(typ, "-----")
	if !found || typ == "" {
		return "", "", false
	}
	var b strings.Builder
	for line := range strings.SplitSeq(rest, "\n") {
		line = trimXMLSpace(line)
		switch {
		case strings.HasPrefix(line, "-----END "):
			return typ, b.String(), true
		case line == "":
		case strings.Contains(line, ":"): // armor header; Base64 has no ':'
		case len(line) == 5 && line[0] == '=': // CRC-24
		default:
			b.WriteString(line)
		}
	}
	return typ, b.String(), true
}
