package gnupg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// Seal signs and/or encrypts with gpg (see pgp.Backend):
//
//	gpg --sign -u SIGNER --encrypt -r SUBKEY! -r SUBKEY! ... --compress-algo none
//
// Each recipient key's valid encryption subkeys are named one by one with a
// trailing "!": "-r FPR" would make gpg pick a single subkey per key, and
// OX encrypts to every device's subkey. The signer is named without "!", so
// that gpg signs with the key's signing subkey where it has one (and the
// primary key need not be at hand). Nothing is compressed, as the native
// backend does not compress either. ox checks beforehand that every key can
// be used now and says why not, rather than reading gpg's refusal.
func (b *Backend) Seal(ctx context.Context, plaintext []byte, opts pgp.SealOptions) ([]byte, error) {
	if opts.Signer.IsZero() && len(opts.Recipients) == 0 {
		return nil, errors.New("pgp: nothing to do: no signer and no recipients")
	}
	now := b.clock()
	args := []string{"--no-armor", "--compress-algo", "none", "--no-encrypt-to", "--no-throw-keyids",
		"--no-textmode", "--no-for-your-eyes-only"}
	if versionAtLeast(b.version, [3]int{2, 2, 20}) {
		args = append(args, "--no-include-key-block")
	}
	if !opts.Signer.IsZero() {
		ki, err := b.Key(ctx, opts.Signer)
		if err != nil {
			return nil, err
		}
		if !ki.Secret {
			return nil, fmt.Errorf("%w: cannot sign with %s", pgp.ErrNoSecretKey, opts.Signer)
		}
		if !canSign(ki, now) {
			if err := ki.Usable(now); err != nil {
				var ue *pgp.KeyUnusableError
				if errors.As(err, &ue) && ue.Reason != pgp.ReasonNoEncryptionKey {
					return nil, fmt.Errorf("cannot sign: %w", err)
				}
			}
			return nil, &pgp.KeyUnusableError{Fingerprint: opts.Signer, Reason: pgp.ReasonNoSigningKey}
		}
		args = append(args, "--sign", "--local-user", opts.Signer.String())
	}
	owner := map[string]pgp.Fingerprint{}
	if len(opts.Recipients) > 0 {
		var fprs []pgp.Fingerprint
		seen := map[pgp.Fingerprint]bool{}
		for _, f := range opts.Recipients {
			if !seen[f] {
				seen[f] = true
				fprs = append(fprs, f)
			}
		}
		ks, err := b.keys(ctx, fprs...)
		if err != nil {
			return nil, err
		}
		args = append(args, "--encrypt")
		for _, ki := range ks {
			if err := ki.Usable(now); err != nil {
				return nil, err
			}
			for _, t := range encryptionTargets(ki, now) {
				owner[t.String()+"!"] = ki.Fingerprint
				args = append(args, "--recipient", t.String()+"!")
			}
		}
	}
	r, err := b.run(ctx, plaintext, 0, args...)
	if err != nil {
		return nil, err
	}
	if err := b.sealError(r, opts, owner); err != nil {
		return nil, err
	}
	return r.stdout, nil
}

// canSign tells whether the key has a signing (sub)key that is valid now.
func canSign(ki pgp.KeyInfo, now time.Time) bool {
	if ki.Revoked || ki.Expired(now) {
		return false
	}
	if ki.Capabilities.Sign {
		return true
	}
	for _, s := range ki.Subkeys {
		if s.Capabilities.Sign && !s.Revoked && (s.Expires.IsZero() || now.Before(s.Expires)) {
			return true
		}
	}
	return false
}

// encryptionTargets are the key's encryption subkeys valid at now, or the
// primary key when it encrypts itself and no subkey does.
func encryptionTargets(ki pgp.KeyInfo, now time.Time) []pgp.Fingerprint {
	var out []pgp.Fingerprint
	for _, s := range ki.Subkeys {
		if s.Capabilities.Encrypt && !s.Revoked && (s.Expires.IsZero() || now.Before(s.Expires)) && !now.Before(s.Created) {
			out = append(out, s.Fingerprint)
		}
	}
	if len(out) == 0 && ki.Capabilities.Encrypt {
		out = append(out, ki.Fingerprint)
	}
	return out
}

// sealError reads why gpg did not sign or encrypt, from INV_RECP and
// INV_SGNR (with DETAILS' reason codes) and ERROR/FAILURE lines.
func (b *Backend) sealError(r *result, opts pgp.SealOptions, owner map[string]pgp.Fingerprint) error {
	signs := len(r.all("SIG_CREATED"))
	ok := r.exit == 0 && len(r.stdout) > 0 &&
		(len(opts.Recipients) == 0 || r.has("END_ENCRYPTION")) &&
		(opts.Signer.IsZero() || signs >= 1)
	if ok && signs > 1 {
		return &Error{Op: "sign", Err: ErrGPG, Key: opts.Signer.String(),
			Detail: fmt.Sprintf("gpg made %d signatures instead of one", signs),
			Advice: "remove the local-user option from gpg.conf: ox names the signing key itself"}
	}
	if ok {
		return nil
	}
	for _, s := range r.all("INV_RECP") {
		fpr, known := owner[s.arg(1)]
		if !known {
			continue
		}
		switch s.arg(0) {
		case "4", "13":
			return &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonRevoked}
		case "5":
			return &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonExpired}
		case "3":
			return &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonNoEncryptionKey}
		case "1":
			return fmt.Errorf("%w: %s", pgp.ErrNotFound, fpr)
		}
	}
	if s, found := r.first("INV_SGNR"); found {
		switch s.arg(0) {
		case "4", "13":
			return fmt.Errorf("cannot sign: %w", &pgp.KeyUnusableError{Fingerprint: opts.Signer, Reason: pgp.ReasonRevoked})
		case "5":
			return fmt.Errorf("cannot sign: %w", &pgp.KeyUnusableError{Fingerprint: opts.Signer, Reason: pgp.ReasonExpired})
		case "3":
			return &pgp.KeyUnusableError{Fingerprint: opts.Signer, Reason: pgp.ReasonNoSigningKey}
		case "1", "9":
			if _, kind := r.failure(); kind == nil {
				return &Error{Op: "sign", Err: pgp.ErrNoSecretKey, Key: opts.Signer.String(), Detail: r.detail(),
					Advice: "gpg has no usable secret key for it: check 'gpg --list-secret-keys " + opts.Signer.String() + "'"}
			}
		}
	}
	op := "encrypt"
	if !opts.Signer.IsZero() {
		op = "sign"
	}
	return b.gpgError(op, r, opts.Signer.String())
}

// Open decrypts and/or verifies msg with gpg --decrypt (see pgp.Backend),
// and reads gpg's verdict from its status lines (GnuPG's doc/DETAILS):
//
//	ENC_TO id ...           the message is encrypted to key id (EncryptedTo)
//	NO_SECKEY id            ... which is not ours; all of them: NoDecryptionKeyError
//	ERROR pkdecrypt_failed  the agent, pinentry or card failed (an *Error), or a
//	                        session key for our key did not decrypt: ErrTampered
//	DECRYPTION_INFO m s [a] session key found; m = 0 and no AEAD: no integrity
//	                        protection, ErrTampered
//	BADMDC, DECRYPTION_FAILED after the session key was found: ErrTampered
//	DECRYPTION_OKAY         the data decrypted and its integrity check passed
//	NODATA, UNEXPECTED      not an OpenPGP message ox can read: ErrMalformed
//	NEWSIG                  a signature follows; its verdict is one of:
//	GOODSIG id uid          good
//	EXPKEYSIG id uid        good, but the key has expired now: an error only
//	                        if it had expired when the message was signed
//	REVKEYSIG id uid        good, but the key is revoked: SignatureError
//	EXPSIG id uid           the signature has expired: SignatureError
//	BADSIG id uid           SignatureError
//	ERRSIG id pk h c t rc f cannot check it; rc 9 (no public key): Unknown
//	VALIDSIG fpr date ts ... primary-fpr: the signing key, the signature's
//	                        creation time (ts) and the signer's primary key
//
// gpg writes the plaintext as it decrypts, before it knows whether the
// message was changed; ox keeps it (up to MaxMessageSize) and hands it out
// only when the status lines say that every check passed.
func (b *Backend) Open(ctx context.Context, msg []byte) (*pgp.Opened, error) {
	if len(msg) == 0 {
		return nil, fmt.Errorf("%w: empty message", pgp.ErrMalformed)
	}
	if passphraseEncrypted(msg) {
		return nil, fmt.Errorf("%w: the message is encrypted to a passphrase, which OX never does", pgp.ErrMalformed)
	}
	r, err := b.run(ctx, msg, MaxMessageSize+1, "--decrypt", "--no-armor",
		"--max-output", strconv.Itoa(2*MaxMessageSize))
	if err != nil {
		return nil, err
	}
	if r.overflow || len(r.stdout) > MaxMessageSize {
		return nil, fmt.Errorf("%w: the plaintext exceeds %d bytes", pgp.ErrTooLarge, MaxMessageSize)
	}
	o := &pgp.Opened{}
	noSec := map[uint64]bool{}
	for _, s := range r.all("ENC_TO") {
		if id, err := strconv.ParseUint(s.arg(0), 16, 64); err == nil {
			o.EncryptedTo = append(o.EncryptedTo, id)
		}
	}
	for _, s := range r.all("NO_SECKEY") {
		if id, err := strconv.ParseUint(s.arg(0), 16, 64); err == nil {
			noSec[id] = true
		}
	}
	o.Encrypted = len(o.EncryptedTo) > 0 || r.has("BEGIN_DECRYPTION")
	if o.Encrypted {
		if err := b.decryptError(ctx, r, o.EncryptedTo, noSec); err != nil {
			return nil, err
		}
	}
	sig := readSignature(r)
	if !r.has("PLAINTEXT") || r.exit != 0 && !sig.explainsExit() {
		if _, kind := r.failure(); kind != nil {
			return nil, b.gpgError("decrypt", r, "")
		}
		return nil, fmt.Errorf("%w: %s", pgp.ErrMalformed, nonEmpty(r.detail(), "gpg found no message"))
	}
	o.Plaintext = r.stdout
	if o.Plaintext == nil {
		o.Plaintext = []byte{}
	}
	if !sig.seen {
		return o, nil
	}
	o.Signed = true
	o.SignerKeyID = sig.keyID
	o.SignatureTime = sig.created
	signer, signing, err := b.signerOf(ctx, sig)
	if err != nil {
		return nil, err
	}
	o.Signer = signer
	o.SignatureErr = sig.verdict(signer, signing)
	return o, nil
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// decryptError explains a message that did not decrypt, or returns nil.
func (b *Backend) decryptError(ctx context.Context, r *result, encTo []uint64, noSec map[uint64]bool) error {
	if r.has("BADMDC") {
		return fmt.Errorf("%w (gpg: the integrity check failed)", pgp.ErrTampered)
	}
	if info, ok := r.first("DECRYPTION_INFO"); ok && info.arg(0) == "0" && (info.arg(2) == "" || info.arg(2) == "0") {
		return fmt.Errorf("%w: the message has no integrity protection (no MDC)", pgp.ErrTampered)
	}
	if r.has("DECRYPTION_OKAY") && !r.has("DECRYPTION_FAILED") {
		return nil
	}
	var ours []uint64
	for _, id := range encTo {
		if !noSec[id] {
			ours = append(ours, id)
		}
	}
	if _, kind := r.failure(); kind != nil {
		key := ""
		if len(ours) > 0 {
			key = pgp.KeyIDString(ours[0])
		}
		return b.gpgError("decrypt", r, key)
	}
	if r.has("DECRYPTION_INFO") {
		// The session key was found, the data did not decrypt.
		return fmt.Errorf("%w (gpg: %s)", pgp.ErrTampered, nonEmpty(r.detail(), "decryption failed"))
	}
	if len(encTo) == 0 {
		return fmt.Errorf("%w: %s", pgp.ErrMalformed, nonEmpty(r.detail(), "gpg could not decrypt the message"))
	}
	if len(ours) > 0 {
		// Addressed to our key, yet its session key did not decrypt: the
		// key packet was damaged or forged.
		return fmt.Errorf("%w: the session key for your key %s does not decrypt", pgp.ErrTampered, pgp.KeyIDString(ours[0]))
	}
	// gpg says NO_SECKEY for every key also when it cannot reach gpg-agent:
	// a key we hold tells the two apart.
	sec, err := b.secrets(ctx, b.current())
	if err != nil {
		return err
	}
	for _, id := range encTo {
		if fpr, ok := sec.byKeyID[id]; ok {
			return b.errorOf("decrypt", r, fpr.String(), ErrNoAgent)
		}
	}
	return &pgp.NoDecryptionKeyError{KeyIDs: encTo}
}

// sigState is what the status lines say about the first signature.
type sigState struct {
	seen    bool
	kind    string // GOODSIG, EXPSIG, EXPKEYSIG, REVKEYSIG, BADSIG, ERRSIG
	keyID   uint64 // the signing (sub)key's ID
	created time.Time
	rc      int    // ERRSIG's error code
	signing string // VALIDSIG: the signing key's fingerprint
	primary string // VALIDSIG: the primary key's fingerprint
}

func readSignature(r *result) sigState {
	var s sigState
	sigs := 0
	for _, st := range r.status {
		switch st.kw {
		case "NEWSIG":
			sigs++
			s.seen = true
		case "GOODSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "BADSIG", "ERRSIG", "VALIDSIG":
			if sigs == 0 {
				sigs = 1 // a gpg that does not say NEWSIG
			}
			if sigs > 1 {
				continue // OX messages carry one signature; the first counts
			}
			s.seen = true
			switch st.kw {
			case "VALIDSIG":
				s.signing, s.created = st.arg(0), parseTime(st.arg(2))
				s.primary = st.arg(9)
				if s.primary == "" {
					s.primary = s.signing
				}
				if id, ok := keyIDOf(s.signing); ok {
					s.keyID = id
				}
			case "ERRSIG":
				s.kind = st.kw
				if id, ok := keyIDOf(st.arg(0)); ok && s.keyID == 0 {
					s.keyID = id
				}
				s.created = parseTime(st.arg(4))
				s.rc, _ = strconv.Atoi(st.arg(5))
			default:
				s.kind = st.kw
				if id, ok := keyIDOf(st.arg(0)); ok && s.keyID == 0 {
					s.keyID = id
				}
			}
		}
	}
	return s
}

// explainsExit tells whether the signature's verdict is why gpg exited
// with an error (1 for a bad signature, 2 when it cannot check one).
func (s sigState) explainsExit() bool {
	return s.seen && s.kind != "" && s.kind != "GOODSIG"
}

// keyIDOf reads a key ID, or the key ID of a v4 fingerprint.
func keyIDOf(s string) (uint64, bool) {
	switch len(s) {
	case 16:
		id, err := strconv.ParseUint(s, 16, 64)
		return id, err == nil
	case 40:
		f, err := pgp.ParseFingerprint(s)
		return f.KeyID(), err == nil
	}
	return 0, false
}

// signerOf finds the stored key that made the signature, and which of its
// (sub)keys signed.
func (b *Backend) signerOf(ctx context.Context, s sigState) (*pgp.KeyInfo, string, error) {
	if s.primary != "" {
		if f, err := pgp.ParseFingerprint(s.primary); err == nil {
			ki, err := b.Key(ctx, f)
			if err == nil {
				return &ki, s.signing, nil
			}
			if !errors.Is(err, pgp.ErrNotFound) {
				return nil, "", err
			}
		}
	}
	if s.kind == "ERRSIG" && s.rc&codeMask == codeNoPubkey {
		return nil, "", nil
	}
	ki, ok, err := b.keyByID(ctx, s.keyID)
	if err != nil || !ok {
		return nil, "", err
	}
	return &ki, "", nil
}

// verdict turns gpg's verdict into a *pgp.SignatureError, or nil.
func (s sigState) verdict(signer *pgp.KeyInfo, signing string) error {
	se := &pgp.SignatureError{KeyID: s.keyID}
	switch s.kind {
	case "GOODSIG":
		return nil
	case "EXPKEYSIG":
		// gpg says so when the key has expired by now; the native backend,
		// and OX, accept a signature made while the key was valid (an
		// offline message read later).
		if signer != nil && !expiredAt(*signer, signing, s.created) {
			return nil
		}
		se.Reason = "the signing key had expired when the message was signed"
	case "REVKEYSIG":
		// gpg says so of any signature by a revoked key; the native
		// backend (go-crypto judges the key at the signature's time)
		// accepts one made before a soft revocation (superseded,
		// retired), and so does OX.
		if signer != nil && signer.Revoked && !signer.RevocationVoids(s.created) {
			return nil
		}
		se.Reason = "the signing key is revoked"
	case "EXPSIG":
		se.Reason = "the signature has expired"
	case "BADSIG":
		se.Reason = "the signature does not verify"
	case "ERRSIG":
		if s.rc&codeMask == codeNoPubkey {
			se.Unknown, se.Reason = true, "unknown signer"
		} else {
			se.Reason = "the signature cannot be checked: " + codeName(s.rc)
		}
	default:
		se.Reason = "gpg gave no verdict on the signature"
	}
	return se
}

// expiredAt tells whether the (sub)key that signed had expired at t.
func expiredAt(ki pgp.KeyInfo, signing string, t time.Time) bool {
	if t.IsZero() {
		return true
	}
	if ki.Expired(t) {
		return true
	}
	for _, sub := range ki.Subkeys {
		if strings.EqualFold(sub.Fingerprint.String(), signing) {
			return !sub.Expires.IsZero() && !t.Before(sub.Expires)
		}
	}
	return false
}
