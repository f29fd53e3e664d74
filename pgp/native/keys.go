package native

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

// readKeys parses binary or ASCII-armored keys; an armored file may hold
// several blocks, and armor may carry whitespace and a CRC line.
func readKeys(data []byte) ([]*openpgp.Entity, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: no key data", pgp.ErrMalformed)
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		// Binary: never trim it, its last byte may look like white space.
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		return el, nil
	}
	var out []*openpgp.Entity
	r := bytes.NewReader(trimmed)
	for {
		block, err := armor.Decode(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(out) > 0 {
				break // trailing text after the last block
			}
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("%w: armor holds a %q, not a key", pgp.ErrMalformed, block.Type)
		}
		el, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		out = append(out, el...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no key in the armored data", pgp.ErrMalformed)
	}
	return out, nil
}

// merge combines what is stored (old) with what arrived (new) for the same
// key, so that an import never loses a revocation, a user ID, a subkey or
// the secret parts ox already holds.
func merge(old, nw *openpgp.Entity) *openpgp.Entity {
	m := *nw
	if m.PrivateKey == nil {
		m.PrivateKey = old.PrivateKey
		if m.PrivateKey != nil {
			m.PrimaryKey = old.PrimaryKey
		}
	}
	m.Revocations = unionSigs(nw.Revocations, old.Revocations)
	m.DirectSignatures = unionSigs(nw.DirectSignatures, old.DirectSignatures)
	m.Identities = make(map[string]*openpgp.Identity, len(nw.Identities))
	for name, id := range nw.Identities {
		c := *id
		c.Primary = &m
		if o, ok := old.Identities[name]; ok {
			c.SelfCertifications = unionSigs(id.SelfCertifications, o.SelfCertifications)
			c.OtherCertifications = unionSigs(id.OtherCertifications, o.OtherCertifications)
			c.Revocations = unionSigs(id.Revocations, o.Revocations)
		}
		m.Identities[name] = &c
	}
	for name, id := range old.Identities {
		if _, ok := m.Identities[name]; !ok {
			c := *id
			c.Primary = &m
			m.Identities[name] = &c
		}
	}
	m.Subkeys = nil
	idx := map[string]int{}
	add := func(s openpgp.Subkey) {
		s.Primary = &m
		k := string(s.PublicKey.Fingerprint)
		if i, ok := idx[k]; ok {
			c := &m.Subkeys[i]
			c.Bindings = unionSigs(c.Bindings, s.Bindings)
			c.Revocations = unionSigs(c.Revocations, s.Revocations)
			if c.PrivateKey == nil && s.PrivateKey != nil {
				c.PrivateKey, c.PublicKey = s.PrivateKey, s.PublicKey
			}
			return
		}
		idx[k] = len(m.Subkeys)
		m.Subkeys = append(m.Subkeys, s)
	}
	for _, s := range nw.Subkeys {
		add(s)
	}
	for _, s := range old.Subkeys {
		add(s)
	}
	return &m
}

func unionSigs(a, b []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	seen := map[string]bool{}
	var out []*packet.VerifiableSignature
	for _, list := range [][]*packet.VerifiableSignature{a, b} {
		for _, s := range list {
			var buf bytes.Buffer
			if err := s.Packet.Serialize(&buf); err != nil {
				continue
			}
			k := buf.String()
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// minimal keeps what XEP-0373 publishing needs: the primary key and its
// revocations, the user ID uid with its self-signatures (no third-party
// certifications), and the subkeys that sign or encrypt (revoked ones too,
// so the revocation reaches contacts). It is what gpg's export-minimal with
// keep-uid does.
func minimal(e *openpgp.Entity, uid string, cfg *packet.Config) (*openpgp.Entity, error) {
	fpr, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
	id, ok := e.Identities[uid]
	if !ok {
		return nil, fmt.Errorf("%w: key %s has no user ID %q", pgp.ErrUnsupportedKey, fpr, uid)
	}
	if _, err := id.Verify(time.Time{}, cfg); err != nil {
		return nil, fmt.Errorf("%w: key %s: user ID %q is not validly self-signed or is revoked", pgp.ErrUnsupportedKey, fpr, uid)
	}
	m := &openpgp.Entity{
		PrimaryKey:       e.PrimaryKey,
		Revocations:      e.Revocations,
		DirectSignatures: e.DirectSignatures,
		Identities:       map[string]*openpgp.Identity{},
	}
	c := *id
	c.Primary = m
	c.OtherCertifications = nil
	m.Identities[uid] = &c
	for _, s := range e.Subkeys {
		sig, err := s.LatestValidBindingSignature(time.Time{}, cfg)
		if err != nil {
			continue
		}
		if sig.FlagsValid && !(sig.FlagSign || sig.FlagEncryptCommunications || sig.FlagEncryptStorage) {
			continue // authentication-only subkeys have no place in OX
		}
		s.Primary = m
		s.PrivateKey = nil
		m.Subkeys = append(m.Subkeys, s)
	}
	return m, nil
}
