package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

// keyring resolves key IDs through the store's index (O(log n) in the number
// of stored keys) instead of scanning every key as openpgp.EntityList does.
type keyring struct {
	ctx context.Context
	b   *Backend
	err error // the first store error, reported after ReadMessage
}

func (k *keyring) EntitiesById(id uint64) []*openpgp.Entity {
	if es := k.b.cache.byKeyID(id); len(es) > 0 {
		// Parsed from the store before, and not changed since by this backend.
		out := make([]*openpgp.Entity, len(es))
		for i, e := range es {
			out[i] = k.b.keyringView(e)
		}
		return out
	}
	ks, err := k.b.st.KeysByKeyID(k.ctx, id)
	if err != nil {
		if k.err == nil {
			k.err = err
		}
		return nil
	}
	var out []*openpgp.Entity
	for _, sk := range ks {
		e, err := k.b.parseStored(sk)
		if err != nil {
			if k.err == nil {
				k.err = err
			}
			continue
		}
		out = append(out, k.b.keyringView(e))
	}
	return out
}

func (k *keyring) KeysById(id uint64) []openpgp.Key {
	var out []openpgp.Key
	for _, e := range k.EntitiesById(id) {
		if e.PrimaryKey.KeyId == id {
			out = append(out, openpgp.Key{Entity: e, PublicKey: e.PrimaryKey, PrivateKey: e.PrivateKey})
		}
		for _, s := range e.Subkeys {
			if s.PublicKey.KeyId == id {
				out = append(out, openpgp.Key{Entity: e, PublicKey: s.PublicKey, PrivateKey: s.PrivateKey})
			}
		}
	}
	return out
}

// Open decrypts and/or verifies msg (see pgp.Backend). Errors: a
// *pgp.NoDecryptionKeyError, pgp.ErrTampered, pgp.ErrTooLarge or
// pgp.ErrMalformed. A signature problem is not an error here: it is reported
// in Opened.SignatureErr, so the caller can say who the message claims to be
// from.
func (b *Backend) Open(ctx context.Context, msg []byte) (*pgp.Opened, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg := b.config()
	kr := &keyring{ctx: ctx, b: b}
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), kr, kr.prompt, cfg)
	if kr.err != nil {
		return nil, kr.err
	}
	if err != nil {
		return nil, b.classifyOpenError(ctx, msg, err)
	}
	body, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, MaxMessageSize+1))
	if len(body) > MaxMessageSize {
		return nil, fmt.Errorf("%w: the plaintext exceeds %d bytes", pgp.ErrTooLarge, MaxMessageSize)
	}
	if err != nil {
		// An MDC or decompression failure after decryption: the bytes were changed.
		return nil, fmt.Errorf("%w (%v)", pgp.ErrTampered, err)
	}
	if kr.err != nil {
		return nil, kr.err
	}
	o := &pgp.Opened{
		Plaintext:   body,
		Encrypted:   md.IsEncrypted,
		EncryptedTo: md.EncryptedToKeyIds,
		Signed:      md.IsSigned,
	}
	if !md.IsSigned {
		return o, nil
	}
	cand := md.SelectedCandidate
	var sig *packet.Signature
	var signer *openpgp.Entity
	switch {
	case md.Signature != nil && md.SignedBy != nil:
		sig, signer = md.Signature, md.SignedBy.Entity
	case cand != nil:
		sig, signer = cand.CorrespondingSig, cand.SignedByEntity
	}
	if cand != nil {
		o.SignerKeyID = cand.IssuerKeyId
	}
	if sig != nil {
		o.SignatureTime = sig.CreationTime.UTC()
		if sig.IssuerKeyId != nil && o.SignerKeyID == 0 {
			o.SignerKeyID = *sig.IssuerKeyId
		}
	}
	if signer != nil {
		ki := keyInfo(signer, cfg)
		o.Signer = &ki
	}
	o.SignatureErr = signatureError(md.SignatureError, sig, o.SignerKeyID, b.now())
	return o, nil
}

// signatureError turns go-crypto's verdict into a *pgp.SignatureError, or nil.
func signatureError(err error, sig *packet.Signature, keyID uint64, now time.Time) error {
	if err == nil {
		return nil
	}
	se := &pgp.SignatureError{KeyID: keyID, Err: err}
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		se.Unknown = true
		se.Reason = "unknown signer"
	case errors.Is(err, pgperrors.ErrSignatureExpired) && sig != nil && sig.SigLifetimeSecs == nil && sig.CreationTime.After(now):
		// go-crypto calls a signature from the future "expired" after the
		// cryptographic check passed; the receiver checks judge the time
		// against <time/> and the clock and say what is wrong.
		return nil
	case errors.Is(err, pgperrors.ErrKeyExpired):
		se.Reason = "the signing key had expired when the message was signed"
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		se.Reason = "the signing key is revoked"
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		se.Reason = "the signature has expired"
	case errors.Is(err, pgperrors.ErrSignatureOlderThanKey):
		se.Reason = "the signature is older than the key that made it"
	default:
		se.Reason = "the signature does not verify: " + err.Error()
	}
	return se
}

// classifyOpenError explains why go-crypto refused a message before any
// plaintext came out.
func (b *Backend) classifyOpenError(ctx context.Context, msg []byte, err error) error {
	if errors.Is(err, pgperrors.ErrKeyIncorrect) {
		ids := encryptedTo(msg)
		for _, id := range ids {
			ks, serr := b.st.KeysByKeyID(ctx, id)
			if serr != nil {
				return serr
			}
			for _, k := range ks {
				if k.Secret == nil {
					continue
				}
				// Addressed to our key: if the stored key cannot decrypt
				// with that subkey, the key is at fault, not the message.
				if err := b.canDecrypt(k, id); err != nil {
					return err
				}
				// It can, yet the session key did not decrypt: the key
				// packet was damaged or forged.
				return fmt.Errorf("%w: the session key for your key %s does not decrypt", pgp.ErrTampered, pgp.KeyIDString(id))
			}
		}
		return &pgp.NoDecryptionKeyError{KeyIDs: ids}
	}
	var se pgperrors.SignatureError
	if errors.As(err, &se) || errors.Is(err, pgperrors.ErrMDCHashMismatch) || errors.Is(err, pgperrors.ErrMDCMissing) {
		return fmt.Errorf("%w (%v)", pgp.ErrTampered, err)
	}
	var ue pgperrors.UnsupportedError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
	}
	return fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
}

// encryptedTo lists the key IDs of a message's PKESK packets.
func encryptedTo(msg []byte) []uint64 {
	var ids []uint64
	r := packet.NewReader(bytes.NewReader(msg))
	for i := 0; i < 1000; i++ {
		p, err := r.Next()
		if err != nil {
			break
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		ids = append(ids, ek.KeyId)
	}
	return ids
}
