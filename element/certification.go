package element

import (
	"encoding/base64"
)

// NSCertification qualifies <certification/>, ox's payload element for the
// web of trust over XMPP. XEP-0373's field notes sketch it in four steps:
// get the contact's key, verify its fingerprint, certify it, send the
// certification back. No XEP says how to send it back, so the element is
// ox's own, in a namespace under the project's address, which ox controls
// (not under urn:xmpp:, which is the XSF's to give out):
//
//	<certification xmlns="https://codeberg.org/ox/ox/certification#0"
//	    fingerprint="TARGET" by="CERTIFIER">
//	  <data>BASE64</data>
//	</certification>
//
// fingerprint is the certified key (the recipient's), by the certifying key
// (the sender's: it must be the key that signed the OX message it travels
// in), both upper-case v4 fingerprints; <data/> is the certified key,
// binary OpenPGP in Base64, as <pubkey/> carries keys (XEP-0373 §4.1): the
// recipient's public key with the certified user ID, its self-signatures
// and the new certification. It travels inside the <payload/> of a
// <signcrypt/>, beside a <body/> that says in words what it is, for the
// clients that know no <certification/>. A receiver merges it into its own
// key only after checking the certification against the sender's key.
const NSCertification = "https://codeberg.org/ox/ox/certification#0"

// Certification is the <certification/> payload element (see
// NSCertification).
type Certification struct {
	// Fingerprint is the certified key, By the certifying key: upper-case
	// v4 fingerprints (normalised when read).
	Fingerprint string
	By          string
	// Data is the certified key, binary OpenPGP.
	Data []byte
	// Armored is true when the sender put ASCII armor in <data/>; Data
	// holds the dearmored bytes all the same.
	Armored bool
}

// Marshal writes the element strictly:
//
//	<certification xmlns="https://codeberg.org/ox/ox/certification#0" fingerprint="FPR" by="FPR"><data>BASE64</data></certification>
//
// with upper-case fingerprints and Base64 on one line. Fingerprints that are
// not v4 fingerprints (ErrBadFingerprint), empty data (ErrInvalid) and
// output larger than MaxSize (ErrTooLarge) are refused.
func (c Certification) Marshal() ([]byte, error) {
	fpr, err := NormalizeFingerprint(c.Fingerprint)
	if err != nil {
		return nil, perr("certification", "fingerprint", ErrBadFingerprint, quoteShort(c.Fingerprint))
	}
	by, err := NormalizeFingerprint(c.By)
	if err != nil {
		return nil, perr("certification", "by", ErrBadFingerprint, quoteShort(c.By))
	}
	if len(c.Data) == 0 {
		return nil, perr("certification", "data", ErrInvalid, "no key data")
	}
	if base64.StdEncoding.EncodedLen(len(c.Data)) > MaxSize {
		return nil, perr("certification", "data", ErrTooLarge, "more than 1 MiB")
	}
	out := []byte(`<certification xmlns="` + NSCertification + `" fingerprint="` + fpr + `" by="` + by + `"><data>`)
	out = base64.StdEncoding.AppendEncode(out, c.Data)
	return append(out, "</data></certification>"...), nil
}

// ParseCertification reads one <certification/> element. It tolerates
// lower-case and spaced fingerprints, white space in the Base64, missing
// padding and ASCII-armored key data; it requires both fingerprints and
// key data that decodes to OpenPGP packets. <data/> may be in the
// element's namespace, jabber:client or none.
func ParseCertification(data []byte) (*Certification, error) {
	root, _, err := parseTree(data, 2, "certification")
	if err != nil {
		return nil, err
	}
	return certificationFrom(root)
}

func certificationFrom(root *node) (*Certification, error) {
	if root.name.Local != "certification" || root.name.Space != NSCertification {
		return nil, unexpected("certification", root.name, NSCertification)
	}
	c := new(Certification)
	for _, a := range []struct {
		name string
		dst  *string
	}{{"fingerprint", &c.Fingerprint}, {"by", &c.By}} {
		v, ok := root.attrValue(a.name)
		if !ok || v == "" {
			return nil, perr("certification", a.name, ErrMissing, "no "+a.name+" attribute")
		}
		f, err := NormalizeFingerprint(v)
		if err != nil {
			return nil, perr("certification", a.name, ErrBadFingerprint, quoteShort(v))
		}
		*a.dst = f
	}
	found := false
	for _, ch := range root.children {
		if ch.name.Local != "data" || !(ch.name.Space == NSCertification || ch.name.Space == NSClient || ch.name.Space == "") {
			continue
		}
		if found {
			return nil, perr("certification", "data", ErrDuplicate, "more than one <data/>")
		}
		found = true
		var reason string
		var sentinel error
		c.Data, c.Armored, reason, sentinel = decodeData(string(ch.text), armorPublicKey)
		if sentinel != nil {
			return nil, perr("certification", "data", sentinel, reason)
		}
	}
	if !found {
		return nil, perr("certification", "data", ErrMissing, "no <data/> element")
	}
	return c, nil
}

// FindCertification looks for a <certification/> among the top-level
// elements of a payload (Content.Payload): false when there is none; an
// error when there is one that cannot be read, or more than one
// (ErrDuplicate), since a receiver must not pick one of several claims.
func FindCertification(payload []byte) (*Certification, bool, error) {
	root, d, err := parseTree(wrapPayload(payload), 2, "payload")
	if err != nil {
		return nil, false, err
	}
	var found *node
	for _, ch := range root.children {
		if ch.name.Local != "certification" || ch.name.Space != NSCertification {
			continue
		}
		if found != nil {
			return nil, true, perr("payload", "certification", ErrDuplicate, "more than one <certification/>")
		}
		found = ch
	}
	if found == nil {
		return nil, false, nil
	}
	raw, err := selfContained(nil, d, found, "", "", MaxSize)
	if err != nil {
		return nil, true, perr("certification", "", ErrTooLarge, "more than 1 MiB")
	}
	c, err := ParseCertification(raw)
	return c, true, err
}
