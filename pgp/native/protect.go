package native

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

// Secret keys at rest. A key may be protected by a passphrase the way
// OpenPGP does it (RFC 4880 §5.5.3): its secret key packets are stored
// encrypted, S2K usage 254 (CFB with a SHA-1 check), AES-256, and an
// iterated and salted S2K (SHA-256, the highest count OpenPGP can say).
// That is what GnuPG 2.2 writes and reads, so an exported protected key
// imports into gpg with its passphrase. Argon2 (RFC 9580) would resist
// guessing on GPUs better, but needs AEAD protection (usage 253), which
// neither GnuPG 2.2 nor the OX clients built on it read.
//
// The stored (and cached) entities keep their secret packets encrypted;
// unlocking decrypts copies, kept in memory for the backend's life, and
// operations use views of the entity that carry those copies. So nothing
// that stores an entity again (put) can write an unlocked secret by
// mistake.

// s2kCount is the S2K iteration count of a protection ox makes: 65011712,
// the maximum, about 0.1 s of SHA-256 here, paid once per process.
const s2kCount = 65011712

// PassphraseFunc returns the passphrase of the protected own key fpr (its
// primary key's fingerprint). The backend asks once per key and process:
// what it unlocks stays unlocked in memory. The returned slice is cleared
// after use.
type PassphraseFunc func(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error)

// WithPassphrase sets where the passphrases of protected secret keys come
// from. Without it a protected key cannot be used: pgp.ErrKeyLocked.
func WithPassphrase(f PassphraseFunc) Option { return func(b *Backend) { b.passphrase = f } }

// unlockedKeys are the decrypted copies of protected secret key packets,
// by the (sub)key's fingerprint.
type unlockedKeys struct {
	mu sync.Mutex
	m  map[string]*packet.PrivateKey
}

func (u *unlockedKeys) get(pk *packet.PrivateKey) *packet.PrivateKey {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[string(pk.Fingerprint)]
}

func (u *unlockedKeys) put(pk *packet.PrivateKey) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[string]*packet.PrivateKey)
	}
	u.m[string(pk.Fingerprint)] = pk
}

// secretPackets lists e's secret key packets that hold key material.
func secretPackets(e *openpgp.Entity) []*packet.PrivateKey {
	var out []*packet.PrivateKey
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
		out = append(out, e.PrivateKey)
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && !s.PrivateKey.Dummy() {
			out = append(out, s.PrivateKey)
		}
	}
	return out
}

// isProtected tells whether some secret part of e is passphrase-protected.
func isProtected(e *openpgp.Entity) bool {
	for _, pk := range secretPackets(e) {
		if pk.Encrypted {
			return true
		}
	}
	return false
}

// view is a shallow copy of e whose secret key packets are replaced by
// sub(packet); the rest (user IDs, signatures) is shared.
func view(e *openpgp.Entity, sub func(*packet.PrivateKey) *packet.PrivateKey) *openpgp.Entity {
	v := *e
	if v.PrivateKey != nil && !v.PrivateKey.Dummy() {
		v.PrivateKey = sub(v.PrivateKey)
	}
	v.Subkeys = append([]openpgp.Subkey(nil), e.Subkeys...)
	for i := range v.Subkeys {
		if pk := v.Subkeys[i].PrivateKey; pk != nil && !pk.Dummy() {
			v.Subkeys[i].PrivateKey = sub(pk)
		}
	}
	return &v
}

// unlock returns e ready to sign and decrypt: e itself when nothing in it
// is protected, else a view with the unlocked secret packets, asking for
// the passphrase the first time. Errors: a *pgp.PassphraseError.
func (b *Backend) unlock(ctx context.Context, e *openpgp.Entity) (*openpgp.Entity, error) {
	if !isProtected(e) {
		return e, nil
	}
	if err := b.unlockAll(ctx, e); err != nil {
		return nil, err
	}
	return view(e, func(pk *packet.PrivateKey) *packet.PrivateKey {
		if u := b.unlocked.get(pk); u != nil {
			return u
		}
		return pk
	}), nil
}

// unlockAll decrypts copies of e's protected packets not unlocked yet,
// with one passphrase for the whole key, as GnuPG gives a key one.
func (b *Backend) unlockAll(ctx context.Context, e *openpgp.Entity) error {
	var todo []*packet.PrivateKey
	for _, pk := range secretPackets(e) {
		if pk.Encrypted && b.unlocked.get(pk) == nil {
			todo = append(todo, pk)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	fpr, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
	if b.passphrase == nil {
		return &pgp.PassphraseError{Fingerprint: fpr, Err: pgp.ErrKeyLocked}
	}
	pass, err := b.passphrase(ctx, fpr)
	if err != nil {
		return &pgp.PassphraseError{Fingerprint: fpr, Err: err}
	}
	defer clear(pass)
	done := make([]*packet.PrivateKey, 0, len(todo))
	for _, pk := range todo {
		c := *pk // Decrypt works in place: never on the stored packet
		if err := c.Decrypt(pass); err != nil {
			return &pgp.PassphraseError{Fingerprint: fpr, Err: fmt.Errorf("%w (%v)", pgp.ErrBadPassphrase, err)}
		}
		done = append(done, &c)
	}
	for _, c := range done {
		b.unlocked.put(c)
	}
	return nil
}

// keyringView is what the keyring hands go-crypto for a stored entity:
// e itself when unprotected, else a view with the packets unlocked so far
// and private copies of the others, which prompt may decrypt in place.
func (b *Backend) keyringView(e *openpgp.Entity) *openpgp.Entity {
	if !isProtected(e) {
		return e
	}
	return view(e, func(pk *packet.PrivateKey) *packet.PrivateKey {
		if u := b.unlocked.get(pk); u != nil {
			return u
		}
		if pk.Encrypted {
			c := *pk
			return &c
		}
		return pk
	})
}

// prompt is go-crypto's PromptFunction for Open: it is called when the
// message is for protected keys that are still locked, and unlocks the
// first candidate's key (the copies in keyringView's views, in place). An
// error ends ReadMessage; kr keeps it to return as it is.
func (kr *keyring) prompt(keys []openpgp.Key, symmetric bool) ([]byte, error) {
	for _, k := range keys {
		if k.PrivateKey == nil || !k.PrivateKey.Encrypted {
			continue
		}
		if err := kr.b.unlockAll(kr.ctx, k.Entity); err != nil {
			if kr.err == nil {
				kr.err = err
			}
			return nil, err
		}
		u := kr.b.unlocked.get(k.PrivateKey)
		if u == nil { // cannot be: unlockAll unlocked every packet of k.Entity
			return nil, errors.New("pgp: unlocking found no secret packet")
		}
		*k.PrivateKey = *u
		return nil, nil
	}
	return nil, pgperrors.ErrKeyIncorrect
}

// keepProtected drops from nw, an imported copy of the stored key old, the
// unprotected secret packets of the parts old holds protected, so that
// merging keeps old's: importing an old unprotected export never strips
// the passphrase silently.
func keepProtected(old, nw *openpgp.Entity) {
	if !isProtected(old) {
		return
	}
	if old.PrivateKey != nil && old.PrivateKey.Encrypted && nw.PrivateKey != nil && !nw.PrivateKey.Encrypted {
		nw.PrivateKey = nil
	}
	for i := range nw.Subkeys {
		s := &nw.Subkeys[i]
		if s.PrivateKey == nil || s.PrivateKey.Encrypted {
			continue
		}
		for _, o := range old.Subkeys {
			if o.PrivateKey != nil && o.PrivateKey.Encrypted && bytes.Equal(o.PublicKey.Fingerprint, s.PublicKey.Fingerprint) {
				s.PrivateKey = nil
			}
		}
	}
}

// protectConfig is the protection ox writes (see the top of this file).
func (b *Backend) protectConfig() *packet.Config {
	cfg := b.config()
	cfg.DefaultCipher = packet.CipherAES256
	cfg.S2KConfig = &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: s2kCount}
	cfg.AEADConfig = nil // usage 254, not 253: GnuPG 2.2 reads only that
	return cfg
}

// protect encrypts every unprotected secret packet of e in place with
// passphrase. e must be the backend's own copy.
func (b *Backend) protect(e *openpgp.Entity, passphrase []byte) error {
	return e.EncryptPrivateKeys(passphrase, b.protectConfig())
}

var _ pgp.PassphraseChanger = (*Backend)(nil)

// ChangePassphrase sets the passphrase of the own key fpr (see
// pgp.PassphraseChanger): the present one unlocks it (asked as for any
// use), then the key is stored again protected by newPassphrase, or
// unprotected when newPassphrase is empty.
func (b *Backend) ChangePassphrase(ctx context.Context, fpr pgp.Fingerprint, newPassphrase []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return err
	}
	if len(secretPackets(e)) == 0 {
		return fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	u, err := b.unlock(ctx, e)
	if err != nil {
		return err
	}
	// A copy with copies of the unlocked packets, which protect encrypts
	// in place; the unlocked ones stay as they are for this process.
	c := view(u, func(pk *packet.PrivateKey) *packet.PrivateKey { d := *pk; return &d })
	if len(newPassphrase) > 0 {
		if err := b.protect(c, newPassphrase); err != nil {
			return fmt.Errorf("pgp: protect key %s: %w", fpr, err)
		}
	}
	// The views share e's user IDs and subkeys' back pointers, which put
	// only reads.
	if _, err := b.put(ctx, c); err != nil {
		return err
	}
	// This process has the key unlocked: it stays so.
	for _, pk := range secretPackets(u) {
		b.unlocked.put(pk)
	}
	return nil
}

// SecretProtected tells whether the transferable secret key(s) in data
// (binary) have every secret part protected by a passphrase; a caller
// warns before writing out one that is not.
func SecretProtected(data []byte) (bool, error) {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
	if err != nil {
		return false, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
	}
	any := false
	for _, e := range el {
		for _, pk := range secretPackets(e) {
			if !pk.Encrypted {
				return false, nil
			}
			any = true
		}
	}
	return any, nil
}

var _ pgp.UnprotectedExporter = (*Backend)(nil)

// ExportSecretUnprotected writes the own key fpr's transferable secret key
// unprotected (see pgp.UnprotectedExporter), for the XEP-0373 §5.4 backup.
func (b *Backend) ExportSecretUnprotected(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	u, err := b.unlock(ctx, e)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := u.SerializePrivateWithoutSigning(&buf, b.config()); err != nil {
		return nil, fmt.Errorf("pgp: export secret %s: %w", fpr, err)
	}
	return buf.Bytes(), nil
}
