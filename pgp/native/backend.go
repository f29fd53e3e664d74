package native

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
)

// MaxMessageSize bounds the plaintext of a message ox will open: XMPP servers
// refuse stanzas far smaller than this (Prosody's default is 256 KiB), so
// anything larger is an attack, not a message.
const MaxMessageSize = 1 << 20

// Backend is the embedded backend. It is safe for concurrent use.
type Backend struct {
	st  *store.Store
	now func() time.Time
	// wall: now is the real clock (no WithClock), which can be waited on.
	wall  bool
	cache *entityCache
	// mu serialises use of parsed entities: go-crypto caches signature
	// verdicts inside them.
	mu sync.Mutex
	// passphrase unlocks protected secret keys; unlocked holds what it
	// unlocked (protect.go).
	passphrase PassphraseFunc
	unlocked   unlockedKeys
}

var _ pgp.Backend = (*Backend)(nil)

// Option configures a Backend.
type Option func(*Backend)

// WithClock sets the clock the backend judges validity by (tests, and
// verifying old messages at their time).
func WithClock(now func() time.Time) Option {
	return func(b *Backend) {
		if now != nil {
			b.now = now
		}
	}
}

// New returns a backend over st. The backend does not own st.
func New(st *store.Store, opts ...Option) *Backend {
	b := &Backend{st: st, cache: newEntityCache(4096)}
	for _, o := range opts {
		o(b)
	}
	b.wall = b.now == nil
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// decompressionMargin is how far beyond MaxMessageSize go-crypto may
// inflate compressed data: room for the packets around the literal data.
const decompressionMargin = 64 << 10

// config is the one packet.Config every operation uses.
func (b *Backend) config() *packet.Config {
	// go-crypto's own bound on inflating is a backstop only: it reports
	// going over as a generic parsing error (it hides parsing errors of
	// decrypted data from oracle attacks), which reads as tampering. Open
	// counts the literal data itself against MaxMessageSize and says "too
	// large"; the margin covers the packets around the literal data (the
	// one-pass signature, the literal header, the signature), so Open's
	// count is always reached first.
	limit := int64(MaxMessageSize + decompressionMargin)
	return &packet.Config{
		// v4 Ed25519 (legacy EdDSA) primary with a Cv25519 (ECDH) subkey:
		// what every OX client and GnuPG 2.2 read. A nil config would make RSA.
		Algorithm: packet.PubKeyAlgoEdDSA,
		Curve:     packet.Curve25519,
		V6Keys:    false,
		// No AEADConfig: SEIPDv1 with MDC, since GnuPG 2.2 cannot read v2.
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		// GnuPG-based senders compress; bound what that may inflate to.
		MaxDecompressedMessageSize: &limit,
		Time:                       b.now,
	}
}

// Generate makes a key for account (see pgp.Backend).
func (b *Backend) Generate(ctx context.Context, account jid.JID, opts pgp.GenerateOptions) (pgp.KeyInfo, error) {
	if account.Localpart() == "" || account.Domainpart() == "" {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: cannot make a key for %q: want a bare JID like alice@example.org", account.String())
	}
	cfg := b.config()
	if opts.Expiry < 0 {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: negative key expiry %v", opts.Expiry)
	}
	if secs := opts.Expiry / time.Second; secs > 0 {
		if secs > 1<<32-1 {
			return pgp.KeyInfo{}, fmt.Errorf("pgp: key expiry %v is longer than OpenPGP can say (136 years)", opts.Expiry)
		}
		cfg.KeyLifetimeSecs = uint32(secs)
	}
	e, err := openpgp.NewEntity(pgp.UserID(account), "", "", cfg)
	if err != nil {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: generate key: %w", err)
	}
	if len(opts.Passphrase) > 0 {
		// Protected before it is first stored: the secret never reaches
		// the database in clear.
		if err := b.protect(e, opts.Passphrase); err != nil {
			return pgp.KeyInfo{}, fmt.Errorf("pgp: protect the new key: %w", err)
		}
	}
	ki, err := b.put(ctx, e)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	return ki, nil
}

// put stores e (with its secret parts, if any) and its indexes.
func (b *Backend) put(ctx context.Context, e *openpgp.Entity) (pgp.KeyInfo, error) {
	cfg := b.config()
	ki := keyInfo(e, cfg)
	ki.Certifications = b.certifications(ctx, e, cfg)
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		return ki, fmt.Errorf("pgp: serialise key %s: %w", ki.Fingerprint, err)
	}
	var sec []byte
	if ki.Secret {
		var buf bytes.Buffer
		if err := e.SerializePrivateWithoutSigning(&buf, cfg); err != nil {
			return ki, fmt.Errorf("pgp: serialise secret key %s: %w", ki.Fingerprint, err)
		}
		sec = buf.Bytes()
	}
	info, err := json.Marshal(ki)
	if err != nil {
		return ki, fmt.Errorf("pgp: %w", err)
	}
	ids := []uint64{e.PrimaryKey.KeyId}
	for _, s := range e.Subkeys {
		ids = append(ids, s.PublicKey.KeyId)
	}
	var uids []string
	for _, j := range ki.XMPPAddresses() {
		uids = append(uids, pgp.UserID(j))
	}
	fpr := ki.Fingerprint.String()
	err = b.st.PutKey(ctx, &store.Key{
		Fingerprint: fpr, Public: pub.Bytes(), Secret: sec, Info: info,
		Created: ki.Created, KeyIDs: ids, UserIDs: uids,
	})
	b.cache.drop(fpr)
	if err != nil {
		return ki, err
	}
	return ki, nil
}

// Import reads and stores keys (see pgp.Backend).
func (b *Backend) Import(ctx context.Context, data []byte) ([]pgp.KeyInfo, error) {
	entities, err := readKeys(data)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []pgp.KeyInfo
	for _, e := range entities {
		if e.PrimaryKey.Version != 4 {
			return out, fmt.Errorf("%w: key %X is a v%d key; XEP-0373 §6.1 allows only v4", pgp.ErrUnsupportedKey, e.PrimaryKey.Fingerprint, e.PrimaryKey.Version)
		}
		fpr, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
		if old, err := b.entity(ctx, fpr); err == nil {
			keepProtected(old, e)
			e = merge(old, e)
		} else if !errors.Is(err, pgp.ErrNotFound) {
			return out, err
		}
		if _, err := e.PrimarySelfSignature(time.Time{}, b.config()); err != nil {
			return out, fmt.Errorf("%w: key %s has no valid self-signed user ID", pgp.ErrUnsupportedKey, fpr)
		}
		ki, err := b.put(ctx, e)
		if err != nil {
			return out, err
		}
		out = append(out, ki)
	}
	return out, nil
}

// Inspect describes keys without storing them.
func (b *Backend) Inspect(ctx context.Context, data []byte) ([]pgp.KeyInfo, error) {
	entities, err := readKeys(data)
	if err != nil {
		return nil, err
	}
	cfg := b.config()
	out := make([]pgp.KeyInfo, 0, len(entities))
	b.mu.Lock() // certifications reads stored issuers' keys
	defer b.mu.Unlock()
	for _, e := range entities {
		if e.PrimaryKey.Version != 4 {
			return nil, fmt.Errorf("%w: key %X is a v%d key; XEP-0373 §6.1 allows only v4", pgp.ErrUnsupportedKey, e.PrimaryKey.Fingerprint, e.PrimaryKey.Version)
		}
		ki := keyInfo(e, cfg)
		ki.Certifications = b.certifications(ctx, e, cfg)
		out = append(out, ki)
	}
	return out, nil
}

// entity loads and parses a stored key, with its secret parts if stored.
func (b *Backend) entity(ctx context.Context, fpr pgp.Fingerprint) (*openpgp.Entity, error) {
	s := fpr.String()
	if e, ok := b.cache.get(s); ok {
		return e, nil
	}
	k, err := b.st.GetKey(ctx, s)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", pgp.ErrNotFound, s)
	}
	if err != nil {
		return nil, err
	}
	return b.parseStored(k)
}

func (b *Backend) parseStored(k *store.Key) (*openpgp.Entity, error) {
	if e, ok := b.cache.get(k.Fingerprint); ok {
		return e, nil
	}
	raw := k.Public
	if k.Secret != nil {
		raw = k.Secret
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, damaged(k, "it cannot be read", err)
	}
	b.cache.put(k.Fingerprint, e)
	return e, nil
}

func infoOf(k *store.Key) (pgp.KeyInfo, error) {
	var ki pgp.KeyInfo
	if err := json.Unmarshal(k.Info, &ki); err != nil {
		return ki, fmt.Errorf("pgp: stored key %s: %w", k.Fingerprint, err)
	}
	ki.Secret = k.Secret != nil
	return ki, nil
}

func infos(ks []*store.Key, err error) ([]pgp.KeyInfo, error) {
	if err != nil {
		return nil, err
	}
	out := make([]pgp.KeyInfo, 0, len(ks))
	for _, k := range ks {
		ki, err := infoOf(k)
		if err != nil {
			return nil, err
		}
		out = append(out, ki)
	}
	return out, nil
}

// Key returns a stored key's summary.
func (b *Backend) Key(ctx context.Context, fpr pgp.Fingerprint) (pgp.KeyInfo, error) {
	k, err := b.st.GetKey(ctx, fpr.String())
	if errors.Is(err, store.ErrNotFound) {
		return pgp.KeyInfo{}, fmt.Errorf("%w: %s", pgp.ErrNotFound, fpr)
	}
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	ki, err := infoOf(k)
	if err != nil {
		return ki, err
	}
	return b.withFreshCertifications(ctx, ki)
}

// Lookup returns the keys with the user ID "xmpp:<bare j>", from the index.
func (b *Backend) Lookup(ctx context.Context, j jid.JID) ([]pgp.KeyInfo, error) {
	ks, err := infos(b.st.KeysByUserID(ctx, pgp.UserID(j)))
	return b.withFreshCertificationsAll(ctx, ks, err)
}

// SecretKeys returns the own keys.
func (b *Backend) SecretKeys(ctx context.Context) ([]pgp.KeyInfo, error) {
	return infos(b.st.SecretKeys(ctx))
}

// List returns every stored key.
func (b *Backend) List(ctx context.Context) ([]pgp.KeyInfo, error) {
	ks, err := infos(b.st.AllKeys(ctx))
	return b.withFreshCertificationsAll(ctx, ks, err)
}

// Close releases nothing: the store belongs to the caller.
func (b *Backend) Close() error { return nil }

// ExportPublic writes a key's public part (see pgp.Backend).
func (b *Backend) ExportPublic(ctx context.Context, fpr pgp.Fingerprint, minimalFor *jid.JID) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if minimalFor != nil {
		e, err = minimal(e, pgp.UserID(*minimalFor), b.config())
		if err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("pgp: export %s: %w", fpr, err)
	}
	return buf.Bytes(), nil
}

// ExportSecret writes a key's transferable secret key, unprotected.
func (b *Backend) ExportSecret(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	var buf bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&buf, b.config()); err != nil {
		return nil, fmt.Errorf("pgp: export secret %s: %w", fpr, err)
	}
	return buf.Bytes(), nil
}
