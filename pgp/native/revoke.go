package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
)

var _ pgp.KeyLifecycle = (*Backend)(nil)

// ownEntity reads the own key fpr afresh from the store: e, a copy of its
// own, not the cached entity, so that nothing changes unless it is stored
// again (with its secret packets as they are stored, protected or not);
// and u, a view of it with the secret packets unlocked to sign with,
// asking for the passphrase of a protected key (protect.go).
func (b *Backend) ownEntity(ctx context.Context, fpr pgp.Fingerprint, op string) (e, u *openpgp.Entity, err error) {
	k, err := b.st.GetKey(ctx, fpr.String())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %s", pgp.ErrNotFound, fpr)
	}
	if err != nil {
		return nil, nil, err
	}
	if k.Secret == nil {
		return nil, nil, fmt.Errorf("%w for %s: it is a contact's certificate, and only its owner can %s it", pgp.ErrNoSecretKey, fpr, op)
	}
	e, err = openpgp.ReadEntity(packet.NewReader(bytes.NewReader(k.Secret)))
	if err != nil {
		return nil, nil, fmt.Errorf("pgp: stored key %s is unreadable: %w", fpr, err)
	}
	if e.PrivateKey == nil || e.PrivateKey.Dummy() {
		return nil, nil, fmt.Errorf("%w: the secret of key %s is not at hand to %s it", pgp.ErrNoSecretKey, fpr, op)
	}
	if u, err = b.unlock(ctx, e); err != nil {
		return nil, nil, err
	}
	return e, u, nil
}

// Revoke makes a key revocation signature (RFC 4880 §5.2.3.23) by the own
// key fpr with opts' reason and text, and stores it with the key (see
// pgp.KeyLifecycle). A key revoked before gets another revocation: the
// newer reason may be the graver one (a superseded key found compromised).
func (b *Backend) Revoke(ctx context.Context, fpr pgp.Fingerprint, opts pgp.RevokeOptions) (pgp.KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, u, err := b.ownEntity(ctx, fpr, "revoke")
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	// Signed with the unlocked key, stored with the key's own secret
	// packet (protected, if it is).
	locked := e.PrivateKey
	e.PrivateKey = u.PrivateKey
	err = e.Revoke(packet.ReasonForRevocation(opts.Reason), opts.Text, b.config())
	e.PrivateKey = locked
	if err != nil {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: revoke %s: %w", fpr, err)
	}
	return b.put(ctx, e)
}

// RevocationCertificate makes a revocation signature without a reason and
// returns it armored, as GnuPG writes its certificates (see
// pgp.KeyLifecycle); the key itself is left unrevoked.
func (b *Backend) RevocationCertificate(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, e, err := b.ownEntity(ctx, fpr, "make a revocation certificate for")
	if err != nil {
		return nil, err
	}
	// e is the unlocked view of a copy that is never stored.
	before := len(e.Revocations)
	if err := e.Revoke(packet.NoReason, "", b.config()); err != nil || len(e.Revocations) != before+1 {
		return nil, fmt.Errorf("pgp: revocation certificate for %s: %v", fpr, err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, map[string]string{"Comment": "This is a revocation certificate"})
	if err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	if err := e.Revocations[before].Packet.Serialize(w); err != nil {
		return nil, fmt.Errorf("pgp: revocation certificate for %s: %w", fpr, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ApplyRevocation stores the key revocation signatures in cert with the
// stored keys they revoke, once each checks out against its key (see
// pgp.KeyLifecycle). Only key revocations (type 0x20) are taken: a
// certificate is no way to change anything else about a key.
func (b *Backend) ApplyRevocation(ctx context.Context, cert []byte) (pgp.KeyInfo, error) {
	sigs, err := readRevocations(cert)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var (
		last  pgp.KeyInfo
		found bool
	)
	for _, sig := range sigs {
		e, err := b.revokedEntity(ctx, sig)
		if err != nil {
			return pgp.KeyInfo{}, err
		}
		e.Revocations = unionSigs(e.Revocations, []*packet.VerifiableSignature{packet.NewVerifiableSig(sig)})
		if last, err = b.put(ctx, e); err != nil {
			return pgp.KeyInfo{}, err
		}
		found = true
	}
	if !found {
		return pgp.KeyInfo{}, fmt.Errorf("%w: no key revocation signature in the certificate", pgp.ErrMalformed)
	}
	return last, nil
}

// revokedEntity finds the stored key sig revokes (by its issuer: a key
// revocation is made by the key itself) and checks sig against it.
func (b *Backend) revokedEntity(ctx context.Context, sig *packet.Signature) (*openpgp.Entity, error) {
	var ks []*store.Key
	if fpr, ok := pgp.FingerprintFromBytes(sig.IssuerFingerprint); ok {
		k, err := b.st.GetKey(ctx, fpr.String())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if k != nil {
			ks = append(ks, k)
		}
	} else if sig.IssuerKeyId != nil {
		var err error
		if ks, err = b.st.KeysByKeyID(ctx, *sig.IssuerKeyId); err != nil {
			return nil, err
		}
	}
	issuer := "an unnamed key"
	if sig.IssuerKeyId != nil {
		issuer = "key ID " + pgp.KeyIDString(*sig.IssuerKeyId)
	}
	for _, k := range ks {
		raw := k.Public
		if k.Secret != nil {
			raw = k.Secret
		}
		e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return nil, fmt.Errorf("pgp: stored key %s is unreadable: %w", k.Fingerprint, err)
		}
		if e.PrimaryKey.VerifyRevocationSignature(sig) == nil {
			return e, nil
		}
		if sig.IssuerFingerprint != nil {
			return nil, fmt.Errorf("%w: the revocation certificate does not verify against key %s", pgp.ErrMalformed, k.Fingerprint)
		}
	}
	return nil, fmt.Errorf("%w: the revocation certificate is for %s, which is not stored: import the key first", pgp.ErrNotFound, issuer)
}

// readRevocations reads the key revocation signatures of a revocation
// certificate: binary, armored, or armored with GnuPG's guarding colon.
func readRevocations(cert []byte) ([]*packet.Signature, error) {
	data := bytes.TrimSpace(pgp.UnguardRevocation(cert))
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty revocation certificate", pgp.ErrMalformed)
	}
	var r io.Reader = bytes.NewReader(data)
	if i := bytes.Index(data, []byte("-----BEGIN PGP")); i >= 0 {
		block, err := armor.Decode(bytes.NewReader(data[i:]))
		if err != nil {
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		if block.Type != openpgp.PublicKeyType && !strings.Contains(block.Type, "SIGNATURE") {
			return nil, fmt.Errorf("%w: armor holds a %q, not a revocation certificate", pgp.ErrMalformed, block.Type)
		}
		r = block.Body
	}
	pr := packet.NewReader(r)
	var out []*packet.Signature
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		switch p := p.(type) {
		case *packet.Signature:
			if p.SigType == packet.SigTypeKeyRevocation {
				out = append(out, p)
			}
		case *packet.PublicKey, *packet.PrivateKey:
			return nil, fmt.Errorf("%w: this is a key, not a revocation certificate; a revoked key is imported like any other", pgp.ErrMalformed)
		}
	}
	return out, nil
}

// Renew restates the expiry of the own key fpr with new self-signatures
// (see pgp.KeyLifecycle): one for each of its user IDs that is validly
// self-signed and not revoked (in a v4 key the primary user ID's newest
// self-signature holds the key's expiry, RFC 4880 §5.2.3.6), and a new
// binding signature for each subkey that is not revoked, with a new
// back-signature where the subkey signs (§5.2.1, 0x19). Everything else
// the old signatures said (flags, preferences) is said again.
func (b *Backend) Renew(ctx context.Context, fpr pgp.Fingerprint, expiry time.Duration) (pgp.KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, u, err := b.ownEntity(ctx, fpr, "renew")
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	// Signed with the unlocked keys (u), stored with the key's own secret
	// packets (e).
	signer := u.PrivateKey
	cfg := b.config()
	now := b.newerThanSelfSignatures(e)
	if ki := keyInfo(e, cfg); ki.Revoked {
		return ki, &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonRevoked, At: ki.RevokedAt}
	}
	life, err := pgp.ExpiryLifetime(e.PrimaryKey.CreationTime, now, expiry)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	var zero time.Time
	renewed := 0
	for name, id := range e.Identities {
		old, err := id.LatestValidSelfCertification(zero, cfg)
		if err != nil || id.Revoked(old, zero, cfg) {
			continue
		}
		sig := restate(old, now, life)
		if err := sig.SignUserId(name, e.PrimaryKey, signer, cfg); err != nil {
			return pgp.KeyInfo{}, fmt.Errorf("pgp: renew %s: user ID %q: %w", fpr, name, err)
		}
		id.SelfCertifications = append(id.SelfCertifications, packet.NewVerifiableSig(sig))
		renewed++
	}
	if renewed == 0 {
		return pgp.KeyInfo{}, fmt.Errorf("%w: key %s has no valid user ID to renew", pgp.ErrUnsupportedKey, fpr)
	}
	for i := range e.Subkeys {
		s := &e.Subkeys[i]
		old, err := s.LatestValidBindingSignature(zero, cfg)
		if err != nil || s.Revoked(old, zero) {
			continue
		}
		slife, err := pgp.ExpiryLifetime(s.PublicKey.CreationTime, now, expiry)
		if err != nil {
			return pgp.KeyInfo{}, err
		}
		sig := restate(old, now, slife)
		if old.EmbeddedSignature != nil {
			sub := u.Subkeys[i].PrivateKey
			if sub == nil || sub.Dummy() || sub.Encrypted {
				return pgp.KeyInfo{}, fmt.Errorf("%w: the signing subkey %X of %s is not at hand to sign its back-signature", pgp.ErrNoSecretKey, s.PublicKey.Fingerprint, fpr)
			}
			back := *old.EmbeddedSignature
			back.CreationTime = now
			if err := back.CrossSignKey(s.PublicKey, e.PrimaryKey, sub, cfg); err != nil {
				return pgp.KeyInfo{}, fmt.Errorf("pgp: renew %s: back-signature: %w", fpr, err)
			}
			sig.EmbeddedSignature = &back
		}
		if err := sig.SignKey(s.PublicKey, signer, cfg); err != nil {
			return pgp.KeyInfo{}, fmt.Errorf("pgp: renew %s: subkey %X: %w", fpr, s.PublicKey.Fingerprint, err)
		}
		s.Bindings = append(s.Bindings, packet.NewVerifiableSig(sig))
	}
	return b.put(ctx, e)
}

// newerThanSelfSignatures is the time for new self-signatures of e: now,
// but in a later second than every self-signature e has. OpenPGP dates
// signatures to the second, and of two of the same second an
// implementation may take either: GnuPG kept the older expiry of a key
// renewed twice within a second. On the wall clock it waits for the next
// second (at most one; a signature dated later still, from a clock that
// was ahead, is not waited for); a clock given with WithClock is taken as
// it is.
func (b *Backend) newerThanSelfSignatures(e *openpgp.Entity) time.Time {
	var latest time.Time
	for _, id := range e.Identities {
		for _, s := range id.SelfCertifications {
			if s.Packet.CreationTime.After(latest) {
				latest = s.Packet.CreationTime
			}
		}
	}
	for _, sk := range e.Subkeys {
		for _, s := range sk.Bindings {
			if s.Packet.CreationTime.After(latest) {
				latest = s.Packet.CreationTime
			}
		}
	}
	now := b.now()
	if b.wall && now.Unix() == latest.Unix() {
		time.Sleep(time.Unix(latest.Unix()+1, 0).Sub(now))
		now = b.now()
	}
	return now
}

// restate copies a self-signature, dated now, with the key lifetime life
// (zero: never expires).
func restate(old *packet.Signature, now time.Time, life uint32) *packet.Signature {
	sig := *old
	sig.CreationTime = now
	sig.KeyLifetimeSecs = nil
	if life > 0 {
		sig.KeyLifetimeSecs = &life
	}
	return &sig
}

// noteRevocation records a valid key revocation signature in ki.
func noteRevocation(ki *pgp.KeyInfo, sig *packet.Signature) {
	reason := pgp.RevocationNoReason
	if sig.RevocationReason != nil {
		reason = pgp.RevocationReason(*sig.RevocationReason)
	}
	ki.NoteRevocation(reason, sig.CreationTime, sig.RevocationReasonText)
}
