package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

// Seal signs and/or encrypts (see pgp.Backend).
//
// An encrypted message is put together from go-crypto's packet writers
// rather than by openpgp.EncryptWithParams, which makes the key packets one
// after the other before it signs: here the key packets (one X25519 key
// agreement each, most of a message's cost) are made on the other cores
// while this goroutine signs and encrypts the data (issue 5, on two cores:
// a 1:1 message to the contact and to self costs 0.65-0.9x, depending on
// how free the other core is, a 100-member room about 0.5x). The packets are the ones EncryptWithParams writes:
// PKESK v3 per key, then SEIPD v1 with MDC holding a one-pass signature,
// the literal data and the signature.
func (b *Backend) Seal(ctx context.Context, plaintext []byte, opts pgp.SealOptions) ([]byte, error) {
	if opts.Signer.IsZero() && len(opts.Recipients) == 0 {
		return nil, errors.New("pgp: nothing to do: no signer and no recipients")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg := b.config()
	// No Intended Recipient Fingerprint subpackets on write: 23 bytes per
	// recipient key (issue 5's group message budget is ~130 B), and OX's
	// <to/> already binds the message to its recipients (XEP-0373 §3.1,
	// surreptitious forwarding). Reading still checks them when present.
	noIRF := false
	cfg.CheckIntendedRecipients = &noIRF
	now := b.now()
	var signers []*openpgp.Entity
	if !opts.Signer.IsZero() {
		e, err := b.signer(ctx, opts.Signer, now, cfg)
		if err != nil {
			return nil, err
		}
		signers = []*openpgp.Entity{e}
	}
	var keys []*packet.PublicKey
	var prefs [][]uint8
	seen := map[pgp.Fingerprint]bool{}
	for _, fpr := range opts.Recipients {
		if seen[fpr] {
			continue
		}
		seen[fpr] = true
		e, err := b.entity(ctx, fpr)
		if err != nil {
			return nil, err
		}
		ks, p, err := encryptionKeys(e, now, cfg)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
		prefs = append(prefs, p)
	}
	var out bytes.Buffer
	if len(keys) == 0 {
		if err := sign(&out, signers, plaintext, cfg); err != nil {
			return nil, fmt.Errorf("pgp: seal: %w", err)
		}
		return out.Bytes(), nil
	}
	if err := encrypt(&out, keys, sessionCipher(prefs, cfg), signers, plaintext, cfg); err != nil {
		return nil, fmt.Errorf("pgp: seal: %w", err)
	}
	return out.Bytes(), nil
}

// signer loads the signing key and says why it cannot sign, if it cannot.
func (b *Backend) signer(ctx context.Context, fpr pgp.Fingerprint, now time.Time, cfg *packet.Config) (*openpgp.Entity, error) {
	e, err := b.entity(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w: cannot sign with %s", pgp.ErrNoSecretKey, fpr)
	}
	if _, ok := e.SigningKey(now, cfg); !ok {
		ki := keyInfo(e, cfg)
		if err := ki.Usable(now); err != nil {
			var ue *pgp.KeyUnusableError
			if errors.As(err, &ue) && ue.Reason != pgp.ReasonNoEncryptionKey {
				return nil, fmt.Errorf("cannot sign: %w", err)
			}
		}
		return nil, &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonNoSigningKey}
	}
	return b.unlock(ctx, e)
}

// sign writes an inline-signed (not encrypted) message.
func sign(out io.Writer, signers []*openpgp.Entity, plaintext []byte, cfg *packet.Config) error {
	w, err := openpgp.SignWithParams(out, signers, &openpgp.SignParams{Config: cfg})
	if err != nil {
		return err
	}
	if _, err := w.Write(plaintext); err != nil {
		return err
	}
	return w.Close()
}

// encrypt writes a message encrypted to keys with a fresh session key of
// cipher, signed by signers if any. The key packets are made in parallel
// with the data.
func encrypt(out *bytes.Buffer, keys []*packet.PublicKey, cipher packet.CipherFunction, signers []*openpgp.Entity, plaintext []byte, cfg *packet.Config) error {
	sk := make([]byte, cipher.KeySize())
	if _, err := io.ReadFull(cfg.Random(), sk); err != nil {
		return fmt.Errorf("session key: %w", err)
	}
	defer clear(sk)

	pkesks := make([]bytes.Buffer, len(keys))
	errs := make([]error, len(keys))
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(keys) {
				return
			}
			// SEIPDv1 for everyone (aeadSupported false): GnuPG 2.2 and
			// the OX clients built on it read nothing newer.
			errs[i] = packet.SerializeEncryptedKeyAEAD(&pkesks[i], keys[i], cipher, false, sk, cfg)
		}
	}
	var wg sync.WaitGroup
	for range min(len(keys), max(runtime.GOMAXPROCS(0)-1, 1)) {
		wg.Go(work)
	}

	var data bytes.Buffer
	dataErr := encryptData(&data, cipher, sk, signers, plaintext, cfg)
	work() // then help with the key packets still to make
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("encrypt the session key to %X: %w", keys[i].Fingerprint, err)
		}
	}
	if dataErr != nil {
		return dataErr
	}
	for i := range pkesks {
		out.Write(pkesks[i].Bytes())
	}
	out.Write(data.Bytes())
	return nil
}

// encryptData writes the SEIPD packet: the signed (or bare) literal data.
func encryptData(out io.Writer, cipher packet.CipherFunction, sk []byte, signers []*openpgp.Entity, plaintext []byte, cfg *packet.Config) error {
	seipd, err := packet.SerializeSymmetricallyEncrypted(out, cipher, false, packet.CipherSuite{}, sk, cfg)
	if err != nil {
		return err
	}
	if len(signers) > 0 {
		// SignWithParams does not close what it writes to.
		if err := sign(seipd, signers, plaintext, cfg); err != nil {
			return err
		}
		return seipd.Close()
	}
	lit, err := packet.SerializeLiteral(seipd, true, "", 0)
	if err != nil {
		return err
	}
	if _, err := lit.Write(plaintext); err != nil {
		return err
	}
	return lit.Close() // closes seipd too
}

// sessionCipher picks the cipher every recipient prefers, as go-crypto's
// Encrypt does: AES-256 (the configured one) if all list it, else AES-128,
// which every implementation must read.
func sessionCipher(prefs [][]uint8, cfg *packet.Config) packet.CipherFunction {
	cands := []packet.CipherFunction{packet.CipherAES256, packet.CipherAES128}
	for _, p := range prefs {
		kept := cands[:0]
		for _, c := range cands {
			if bytes.IndexByte(p, uint8(c)) >= 0 {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	if len(cands) == 0 {
		return packet.CipherAES128
	}
	for _, c := range cands {
		if c == cfg.Cipher() {
			return c
		}
	}
	return cands[0]
}

// encryptionKeys returns every valid encryption key of e (one per device
// subkey: go-crypto's own choice picks a single one) and the symmetric
// ciphers e's owner prefers.
func encryptionKeys(e *openpgp.Entity, now time.Time, cfg *packet.Config) ([]*packet.PublicKey, []uint8, error) {
	fpr, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
	if _, err := e.VerifyPrimaryKey(now, cfg); err != nil {
		ki := keyInfo(e, cfg)
		if uerr := ki.Usable(now); uerr != nil {
			return nil, nil, uerr
		}
		return nil, nil, fmt.Errorf("%w: %s: %v", pgp.ErrUnsupportedKey, fpr, err)
	}
	self, err := e.PrimarySelfSignature(now, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", pgp.ErrUnsupportedKey, fpr, err)
	}
	var out []*packet.PublicKey
	for i := range e.Subkeys {
		s := e.Subkeys[i]
		sig, err := s.Verify(now, cfg)
		if err != nil || !sig.FlagsValid || !(sig.FlagEncryptCommunications || sig.FlagEncryptStorage) {
			continue
		}
		// Let go-crypto judge the subkey (algorithm, strength, expiry) as
		// its Encrypt would, with this one subkey to choose from.
		one := *e
		one.Subkeys = []openpgp.Subkey{s}
		if k, err := one.EncryptionKeyWithError(now, cfg); err == nil && !hasKey(out, k.PublicKey) {
			out = append(out, k.PublicKey)
		}
	}
	if len(out) == 0 {
		k, err := e.EncryptionKeyWithError(now, cfg)
		if err != nil {
			return nil, nil, &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonNoEncryptionKey}
		}
		out = append(out, k.PublicKey) // the primary key itself encrypts
	}
	return out, self.PreferredSymmetric, nil
}

func hasKey(ks []*packet.PublicKey, k *packet.PublicKey) bool {
	for _, o := range ks {
		if bytes.Equal(o.Fingerprint, k.Fingerprint) {
			return true
		}
	}
	return false
}
