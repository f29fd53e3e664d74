package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// The web of trust: certifying a contact's user ID, exporting the own key
// with the certifications the user accepted, and describing the
// certifications a key carries.

// Certify certifies the user ID uid of target with the own key signer (see
// pgp.Backend). The certification is a generic one (type 0x10), as gpg
// makes by default: the types 0x11 to 0x13 claim how well the certifier
// checked the binding, which the OpenPGP implementations that compute
// validity do not act on (gpg only discards 0x11 by default), and 0x10
// keeps what both backends make alike. It is made by signer's primary key,
// as RFC 4880 §5.2.1 wants of certifications, and is exportable.
func (b *Backend) Certify(ctx context.Context, signer, target pgp.Fingerprint, uid string) ([]byte, error) {
	if signer == target {
		return nil, fmt.Errorf("pgp: key %s cannot certify itself: a certification is another key's statement", signer)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg := b.config()
	now := b.now()
	se, err := b.entity(ctx, signer)
	if err != nil {
		return nil, err
	}
	if se.PrivateKey == nil || se.PrivateKey.Dummy() {
		return nil, fmt.Errorf("%w: cannot certify with %s", pgp.ErrNoSecretKey, signer)
	}
	sinfo := keyInfo(se, cfg)
	if err := usableToCertify(sinfo, now); err != nil {
		return nil, err
	}
	if se, err = b.unlock(ctx, se); err != nil {
		return nil, err
	}
	te, err := b.entity(ctx, target)
	if err != nil {
		return nil, err
	}
	tinfo := keyInfo(te, cfg)
	if tinfo.Revoked || tinfo.Expired(now) {
		return nil, fmt.Errorf("pgp: will not certify key %s: %w", target, tinfo.Usable(now))
	}
	id, ok := te.Identities[uid]
	if !ok {
		return nil, fmt.Errorf("%w: key %s has no user ID %q", pgp.ErrUnsupportedKey, target, uid)
	}
	if _, err := id.Verify(now, cfg); err != nil {
		return nil, fmt.Errorf("%w: key %s: user ID %q is not validly self-signed or is revoked", pgp.ErrUnsupportedKey, target, uid)
	}
	cert := existingCertification(id, se.PrimaryKey, uid, te.PrimaryKey)
	if cert == nil {
		sig := &packet.Signature{
			Version:      se.PrimaryKey.Version,
			SigType:      packet.SigTypeGenericCert,
			PubKeyAlgo:   se.PrimaryKey.PubKeyAlgo,
			Hash:         cfg.Hash(),
			CreationTime: now,
			IssuerKeyId:  &se.PrimaryKey.KeyId,
		}
		if err := sig.SignUserId(uid, te.PrimaryKey, se.PrivateKey, cfg); err != nil {
			return nil, fmt.Errorf("pgp: certify %q of %s: %w", uid, target, err)
		}
		cert = packet.NewVerifiableSig(sig)
		// The cached entity changes here; put drops it from the cache
		// whatever happens, so a failed store leaves no trace.
		id.OtherCertifications = append(id.OtherCertifications, cert)
		if _, err := b.put(ctx, te); err != nil {
			return nil, err
		}
	}
	m, err := minimal(te, uid, cfg)
	if err != nil {
		return nil, err
	}
	m.Identities[uid].OtherCertifications = []*packet.VerifiableSignature{cert}
	var buf bytes.Buffer
	if err := m.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("pgp: export %s: %w", target, err)
	}
	return buf.Bytes(), nil
}

// usableToCertify: the key is neither revoked nor expired and its primary
// key may certify.
func usableToCertify(k pgp.KeyInfo, now time.Time) error {
	if k.Revoked || k.Expired(now) {
		return fmt.Errorf("cannot certify: %w", k.Usable(now))
	}
	if !k.Capabilities.Certify {
		return fmt.Errorf("%w: the primary key of %s may not certify", pgp.ErrUnsupportedKey, k.Fingerprint)
	}
	return nil
}

// existingCertification finds a valid, unrevoked certification of uid by
// the key issuer among id's.
func existingCertification(id *openpgp.Identity, issuer *packet.PublicKey, uid string, target *packet.PublicKey) *packet.VerifiableSignature {
	var found *packet.VerifiableSignature
	for _, s := range id.OtherCertifications {
		if !s.Packet.CheckKeyIdOrFingerprint(issuer) || issuer.VerifyUserIdSignature(uid, target, s.Packet) != nil {
			continue
		}
		switch s.Packet.SigType {
		case packet.SigTypeCertificationRevocation:
			if found != nil && !s.Packet.CreationTime.Before(found.Packet.CreationTime) {
				found = nil
			}
		case packet.SigTypeGenericCert, packet.SigTypePersonaCert, packet.SigTypeCasualCert, packet.SigTypePositiveCert:
			if found == nil || s.Packet.CreationTime.After(found.Packet.CreationTime) {
				found = s
			}
		}
	}
	return found
}

// ExportPublicWith writes a key's public part (see pgp.Backend): minimal,
// plus the certifications of the user ID by opts.Certifiers.
func (b *Backend) ExportPublicWith(ctx context.Context, fpr pgp.Fingerprint, minimalFor *jid.JID, opts pgp.ExportOptions) ([]byte, error) {
	if minimalFor == nil || len(opts.Certifiers) == 0 {
		return b.ExportPublic(ctx, fpr, minimalFor)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return nil, err
	}
	uid := pgp.UserID(*minimalFor)
	m, err := minimal(e, uid, b.config())
	if err != nil {
		return nil, err
	}
	var keep []*packet.VerifiableSignature
	for _, s := range e.Identities[uid].OtherCertifications {
		for _, c := range opts.Certifiers {
			if s.Packet.CheckKeyIdOrFingerprintExplicit(c[:], c.KeyID()) {
				keep = append(keep, s)
				break
			}
		}
	}
	m.Identities[uid].OtherCertifications = keep
	var buf bytes.Buffer
	if err := m.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("pgp: export %s: %w", fpr, err)
	}
	return buf.Bytes(), nil
}

// issuer is a certifying key: the stored key whose primary key has the
// signature's issuer key ID (and fingerprint, when the signature names it).
type issuer struct {
	fpr pgp.Fingerprint
	key *packet.PublicKey
}

// findIssuer looks the issuer of sig up among the stored keys; the caller
// holds b.mu.
func (b *Backend) findIssuer(ctx context.Context, sig *packet.Signature) (issuer, bool) {
	if sig.IssuerKeyId == nil {
		return issuer{}, false
	}
	ks, err := b.st.KeysByKeyID(ctx, *sig.IssuerKeyId)
	if err != nil {
		return issuer{}, false
	}
	for _, k := range ks {
		e, err := b.parseStored(k)
		if err != nil || !sig.CheckKeyIdOrFingerprint(e.PrimaryKey) {
			continue // a subkey with that key ID: subkeys do not certify
		}
		f, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
		return issuer{fpr: f, key: e.PrimaryKey}, true
	}
	return issuer{}, false
}

// certifications describes the third-party certifications of e's valid
// user IDs, verifying each against its issuer's key where that is stored.
// A certification its issuer revoked later (type 0x30) is left out; of
// several by one issuer, the newest stands. The caller holds b.mu, or owns
// e and knows it carries no third-party signature.
func (b *Backend) certifications(ctx context.Context, e *openpgp.Entity, cfg *packet.Config) []pgp.Certification {
	var out []pgp.Certification
	var zero time.Time
	for name, id := range e.Identities {
		if len(id.OtherCertifications) == 0 {
			continue
		}
		if _, err := id.Verify(zero, cfg); err != nil {
			continue // not one of the key's user IDs
		}
		type latest struct {
			c       pgp.Certification
			revoked time.Time
		}
		by := map[uint64]*latest{}
		var order []uint64
		for _, s := range id.OtherCertifications {
			sig := s.Packet
			if sig.IssuerKeyId == nil || sig.Version != 4 {
				continue
			}
			kid := *sig.IssuerKeyId
			c := pgp.Certification{UserID: name, IssuerKeyID: kid, Created: sig.CreationTime.UTC()}
			if f, ok := pgp.FingerprintFromBytes(sig.IssuerFingerprint); ok {
				c.Issuer = f
			}
			if is, ok := b.findIssuer(ctx, sig); ok {
				c.Issuer = is.fpr
				c.Verified = is.key.VerifyUserIdSignature(name, e.PrimaryKey, sig) == nil
			}
			if !c.Verified && sig.SigType == packet.SigTypeCertificationRevocation {
				continue // an unverifiable revocation revokes nothing
			}
			l := by[kid]
			if l == nil {
				l = &latest{}
				by[kid] = l
				order = append(order, kid)
			}
			switch sig.SigType {
			case packet.SigTypeCertificationRevocation:
				if sig.CreationTime.After(l.revoked) {
					l.revoked = sig.CreationTime
				}
			case packet.SigTypeGenericCert, packet.SigTypePersonaCert, packet.SigTypeCasualCert, packet.SigTypePositiveCert:
				if life := sig.SigLifetimeSecs; life != nil && *life != 0 && !b.now().Before(sig.CreationTime.Add(time.Duration(*life)*time.Second)) {
					continue // expired: it certifies no more
				}
				if l.c.Created.IsZero() || c.Verified && !l.c.Verified || c.Verified == l.c.Verified && c.Created.After(l.c.Created) {
					l.c = c
				}
			}
		}
		for _, kid := range order {
			l := by[kid]
			if l.c.Created.IsZero() || !l.revoked.IsZero() && !l.revoked.Before(l.c.Created) {
				continue
			}
			out = append(out, l.c)
		}
	}
	sortCertifications(out)
	return out
}

func sortCertifications(cs []pgp.Certification) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].UserID != cs[j].UserID {
			return cs[i].UserID < cs[j].UserID
		}
		if cs[i].Issuer != cs[j].Issuer {
			return cs[i].Issuer.String() < cs[j].Issuer.String()
		}
		return cs[i].IssuerKeyID < cs[j].IssuerKeyID
	})
}

// withFreshCertifications re-verifies, from the key itself, the stored
// summary's certifications that could not be verified when the key was
// stored, if their issuer's key has been stored since (a contact's key
// fetched before the key of whoever certified it).
func (b *Backend) withFreshCertifications(ctx context.Context, ki pgp.KeyInfo) (pgp.KeyInfo, error) {
	var unverified []uint64
	for _, c := range ki.Certifications {
		if !c.Verified {
			unverified = append(unverified, c.IssuerKeyID)
		}
	}
	if len(unverified) == 0 {
		return ki, nil
	}
	if stale, err := b.st.AnyKeyID(ctx, unverified); err != nil || !stale {
		return ki, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, ki.Fingerprint)
	if errors.Is(err, pgp.ErrNotFound) {
		return ki, nil
	}
	if err != nil {
		return ki, err
	}
	ki.Certifications = b.certifications(ctx, e, b.config())
	return ki, nil
}

// withFreshCertificationsAll is withFreshCertifications for a list.
func (b *Backend) withFreshCertificationsAll(ctx context.Context, ks []pgp.KeyInfo, err error) ([]pgp.KeyInfo, error) {
	if err != nil {
		return ks, err
	}
	for i := range ks {
		if ks[i], err = b.withFreshCertifications(ctx, ks[i]); err != nil {
			return nil, err
		}
	}
	return ks, nil
}
