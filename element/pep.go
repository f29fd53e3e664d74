package element

import (
	"encoding/base64"
	"errors"
	"time"
)

// PubKey is the payload of a public key data node item (XEP-0373 §4.1):
// <pubkey xmlns='urn:xmpp:openpgp:0'><data>BASE64</data></pubkey>.
type PubKey struct {
	// Date is the legacy date attribute of older versions of XEP-0373,
	// zero if absent or unparsable. Marshal does not write it.
	Date time.Time
	// Data is the transferable public key, binary OpenPGP.
	Data []byte
	// Armored is true when the sender put ASCII armor in <data/> (against
	// XEP-0373 §4.1); Data holds the dearmored bytes all the same.
	Armored bool
}

// Marshal writes <pubkey xmlns="urn:xmpp:openpgp:0"><data>BASE64</data></pubkey>
// (XEP-0373 §4.1), Base64 on one line, without the deprecated date
// attribute.
func (p PubKey) Marshal() []byte {
	out := []byte(`<pubkey xmlns="` + NS + `"><data>`)
	out = base64.StdEncoding.AppendEncode(out, p.Data)
	return append(out, "</data></pubkey>"...)
}

// ParsePubKey reads a <pubkey/> element (XEP-0373 §4.1), the payload of a
// data node item, whatever the item id. It tolerates white space in the
// Base64, missing padding, ASCII-armored key data ("-----BEGIN PGP PUBLIC
// KEY BLOCK-----", dearmored; see PubKey.Armored) and the legacy date
// attribute. <data/> must be present and decode to OpenPGP packets.
func ParsePubKey(data []byte) (*PubKey, error) {
	root, _, err := parseTree(data, 2, "pubkey")
	if err != nil {
		return nil, err
	}
	if root.name.Local != "pubkey" || root.name.Space != NS {
		return nil, unexpected("pubkey", root.name, NS)
	}
	p := new(PubKey)
	if v, ok := root.attrValue("date"); ok {
		p.Date, _ = ParseTime(v)
	}
	for _, ch := range root.children {
		if ch.name.Local != "data" || !isAffixNS(ch.name.Space) {
			continue
		}
		var sentinel error
		var reason string
		p.Data, p.Armored, reason, sentinel = decodeData(string(ch.text), armorPublicKey)
		if sentinel != nil {
			return nil, perr("pubkey", "data", sentinel, reason)
		}
		return p, nil
	}
	return nil, perr("pubkey", "data", ErrMissing, "no <data/> element")
}

// PubKeyMetadata is one <pubkey-metadata/> of the metadata node
// (XEP-0373 §4.2).
type PubKeyMetadata struct {
	// Fingerprint is the v4 fingerprint, normalised to upper case.
	Fingerprint string
	// Date is when the key was published or updated, UTC; zero if the
	// date attribute is absent or unparsable. DateRaw is as written.
	Date    time.Time
	DateRaw string
	// Raw is the element as read, with the namespace declarations it
	// inherited added, so that another device's entry, with attributes
	// this package does not know, can be written back unchanged. Marshal
	// writes Raw verbatim when it is set: clear it after changing an
	// entry.
	Raw []byte
}

// PublicKeysList is the payload of the metadata node (XEP-0373 §4.2).
type PublicKeysList struct {
	Keys []PubKeyMetadata
	// Skipped holds, when read, the v4-fingerprint attributes of entries
	// that were dropped because they are not v4 fingerprints.
	Skipped []string
}

// Marshal writes the list strictly (XEP-0373 §4.2):
//
//	<public-keys-list xmlns="urn:xmpp:openpgp:0"><pubkey-metadata v4-fingerprint="FPR" date="…Z"/>…</public-keys-list>
//
// with upper-case fingerprints and XEP-0082 UTC dates. An entry with Raw
// set is written back verbatim. As a fingerprint must not occur twice,
// duplicates are collapsed (the newest date is kept, in the place of the
// first); entries without Raw whose fingerprint is not a v4 fingerprint
// are left out. Validate reports both.
func (l PublicKeysList) Marshal() []byte {
	out := []byte(`<public-keys-list xmlns="` + NS + `">`)
	for _, k := range collapse(l.Keys) {
		if k.Raw != nil {
			out = append(out, k.Raw...)
			continue
		}
		out = append(out, `<pubkey-metadata v4-fingerprint="`+k.Fingerprint+`" date="`+FormatTime(k.Date)+`"/>`...)
	}
	return append(out, "</public-keys-list>"...)
}

// Validate reports what Marshal would have to leave out or merge: entries
// (without Raw) whose fingerprint is not a v4 fingerprint, entries without
// a date, and fingerprints that occur more than once.
func (l PublicKeysList) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, k := range l.Keys {
		f, err := NormalizeFingerprint(k.Fingerprint)
		if err != nil {
			if k.Raw == nil {
				errs = append(errs, err)
			}
			continue
		}
		if seen[f] {
			errs = append(errs, perr("public-keys-list", "pubkey-metadata", ErrDuplicate, "fingerprint "+f))
		}
		seen[f] = true
		if k.Raw == nil && k.Date.IsZero() {
			errs = append(errs, perr("public-keys-list", "pubkey-metadata", ErrInvalid, "no date for "+f))
		}
	}
	return errors.Join(errs...)
}

// collapse normalises fingerprints, drops invalid entries without Raw and
// merges duplicates, keeping the newest date at the first position.
func collapse(keys []PubKeyMetadata) []PubKeyMetadata {
	out := make([]PubKeyMetadata, 0, len(keys))
	index := map[string]int{}
	for _, k := range keys {
		f, err := NormalizeFingerprint(k.Fingerprint)
		if err != nil {
			if k.Raw == nil {
				continue
			}
			f = k.Fingerprint
		}
		k.Fingerprint = f
		if i, dup := index[f]; dup {
			if k.Date.After(out[i].Date) {
				out[i] = k
			}
			continue
		}
		index[f] = len(out)
		out = append(out, k)
	}
	return out
}

// ParsePublicKeysList reads a <public-keys-list/> (XEP-0373 §4.2), the
// payload of a metadata node item, whatever the item id. It tolerates
// lower-case fingerprints (normalised), duplicates (collapsed, the
// newest date kept), entries whose v4-fingerprint is not one (dropped and
// listed in Skipped), missing or odd dates (Date zero), an empty list, and
// unknown elements and attributes (kept in Raw).
func ParsePublicKeysList(data []byte) (*PublicKeysList, error) {
	root, d, err := parseTree(data, 2, "public-keys-list")
	if err != nil {
		return nil, err
	}
	if root.name.Local != "public-keys-list" || root.name.Space != NS {
		return nil, unexpected("public-keys-list", root.name, NS)
	}
	l := new(PublicKeysList)
	var keys []PubKeyMetadata
	for _, ch := range root.children {
		if ch.name.Local != "pubkey-metadata" || !isAffixNS(ch.name.Space) {
			continue
		}
		v, _ := ch.attrValue("v4-fingerprint")
		f, err := NormalizeFingerprint(v)
		if err != nil {
			l.Skipped = append(l.Skipped, v)
			continue
		}
		k := PubKeyMetadata{Fingerprint: f}
		k.DateRaw, _ = ch.attrValue("date")
		k.Date, _ = ParseTime(k.DateRaw)
		if k.Raw, err = selfContained(nil, d, ch, ch.inScopeDefault(), NS, MaxSize); err != nil {
			return nil, perr("public-keys-list", "pubkey-metadata", ErrTooLarge, "namespace declarations make it larger than 1 MiB")
		}
		keys = append(keys, k)
	}
	l.Keys = collapse(keys)
	return l, nil
}

// SecretKey is the payload of the secret key node (XEP-0373 §5.4):
// <secretkey xmlns='urn:xmpp:openpgp:0'>BASE64</secretkey>, the secret
// keys encrypted to the backup code (an OpenPGP message with an SKESK).
type SecretKey struct {
	// Data is the encrypted backup, binary OpenPGP.
	Data []byte
	// Armored is true when the sender used ASCII armor (against
	// XEP-0373 §5.4); Data holds the dearmored bytes all the same.
	Armored bool
}

// Marshal writes <secretkey xmlns="urn:xmpp:openpgp:0">BASE64</secretkey>
// (XEP-0373 §5.4), Base64 on one line.
func (s SecretKey) Marshal() []byte {
	out := []byte(`<secretkey xmlns="` + NS + `">`)
	out = base64.StdEncoding.AppendEncode(out, s.Data)
	return append(out, "</secretkey>"...)
}

// ParseSecretKey reads a <secretkey/> element (XEP-0373 §5.4), tolerant
// of white space, missing padding and an ASCII-armored "PGP MESSAGE".
func ParseSecretKey(data []byte) (*SecretKey, error) {
	root, _, err := parseTree(data, 1, "secretkey")
	if err != nil {
		return nil, err
	}
	if root.name.Local != "secretkey" || root.name.Space != NS {
		return nil, unexpected("secretkey", root.name, NS)
	}
	s := new(SecretKey)
	var sentinel error
	var reason string
	s.Data, s.Armored, reason, sentinel = decodeData(string(root.text), armorMessage)
	if sentinel != nil {
		return nil, perr("secretkey", "", sentinel, reason)
	}
	return s, nil
}
