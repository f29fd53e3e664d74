package backup

import (
	"bytes"
	"crypto"
	_ "crypto/sha256" // the S2K hash
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Errors of Encrypt and Decrypt; match them with errors.Is. The errors
// returned wrap them with details, and their messages start with "backup: ".
var (
	// ErrWrongCode: the code does not open the backup. With the OpenPGP
	// packets a backup is made of, a wrong code cannot be told apart from a
	// backup that was damaged inside its encrypted part.
	ErrWrongCode = errors.New("backup: wrong backup code")
	// ErrNotABackup: the data is not a symmetrically (passphrase) encrypted
	// OpenPGP message: garbage, a message encrypted to a public key, a key,
	// a truncated message...
	ErrNotABackup = errors.New("backup: not a secret key backup")
	// ErrNoSecretKey: the backup opens, but holds no transferable secret
	// key; or Encrypt was given no secret key.
	ErrNoSecretKey = errors.New("backup: no secret key")
	// ErrTooLarge: the backup, or the key inside, is larger than MaxSize, or
	// opening it would cost more than a backup reasonably does (too many
	// passphrase packets, an Argon2 S2K asking for too much memory).
	ErrTooLarge = errors.New("backup: too large")
	// ErrProtectedKey: Encrypt was given a secret key that is protected by a
	// passphrase (or is a stub whose secret part is elsewhere, e.g. on a
	// smartcard). XEP-0373 §5.4 wants the secret key packets unprotected
	// (S2K usage 0) inside the backup: unlock the key first.
	ErrProtectedKey = errors.New("backup: the secret key is protected")
)

// MaxSize bounds the secret key in a backup (and so the output of Decrypt
// and the input of Encrypt): 1 MiB, far more than any key with its
// signatures needs.
const MaxSize = 1 << 20

// S2KCount is the iteration count of the S2K that turns the code into the
// key: the maximum OpenPGP can express. A code has 24×log2(34) ≈ 122 bits
// of entropy, so this is defence in depth rather than the protection itself.
const S2KCount = 65011712

// limits bound the work Decrypt does on hostile input.
type limits struct {
	maxSize int // of the key inside
	// maxInput bounds the (armored or binary) input; maxPlain the decrypted
	// plaintext (literal data packet headers and all, or compressed).
	maxInput, maxPlain int
	maxSKESK           int   // passphrase packets tried (each costs an S2K)
	maxS2KCount        int   // iterated and salted S2K
	maxArgon2MemExp    uint8 // Argon2 memory is 2^exp KiB
	maxArgon2Work      int   // passes × 2^exp KiB
}

var defaultLimits = limits{
	maxSize:         MaxSize,
	maxInput:        4 * MaxSize, // room for armor and compression headroom
	maxPlain:        MaxSize + 64<<10,
	maxSKESK:        4,
	maxS2KCount:     S2KCount,
	maxArgon2MemExp: 21,      // 2 GiB, RFC 9580 §3.7.1.4's first recommendation
	maxArgon2Work:   4 << 21, // e.g. 4 passes over 2 GiB
}

// Encrypt makes a backup: the transferable secret key(s) (binary; armored
// input is accepted and stored binary), whose secret key packets must be
// unprotected (S2K usage 0), in a Literal Data packet, encrypted with the
// code as the passphrase.
//
// The passphrase is the canonical code verbatim, dashes included: XEP-0373
// §5.4 step 3 says "The whole backup code including the dashes is directly
// used as a string [...] the symmetric-key is thus 29 characters long
// including the dashes." A code that is not canonical but parses (lower
// case, no dashes) is canonicalized first, so that what the user types back
// opens the backup; one that does not parse is a *CodeError.
//
// The packets: SKESK v4 with an iterated and salted S2K (SHA-256, count
// S2KCount, the maximum) and AES-256, then SEIPD v1 (with MDC, not AEAD:
// GnuPG 2.2 and clients built on older OpenPGP libraries read only that),
// no compression.
func Encrypt(secretKey []byte, code Code) ([]byte, error) {
	return encrypt(secretKey, code, S2KCount)
}

// encrypt is Encrypt with a chosen S2K count, which tests lower: one S2K at
// the full count costs tens of milliseconds, and the tests that try
// hundreds of wrong codes would take long.
func encrypt(secretKey []byte, code Code, s2kCount int) ([]byte, error) {
	c, err := ParseCode(string(code))
	if err != nil {
		return nil, err
	}
	if len(secretKey) > defaultLimits.maxInput {
		return nil, fmt.Errorf("%w: the secret key is %d bytes, the limit is %d", ErrTooLarge, len(secretKey), MaxSize)
	}
	key, err := dearmor(secretKey, openpgp.PrivateKeyType, MaxSize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrNoSecretKey, err)
	}
	if len(key) > MaxSize {
		return nil, fmt.Errorf("%w: the secret key is %d bytes, the limit is %d", ErrTooLarge, len(key), MaxSize)
	}
	if err := checkUnprotected(key); err != nil {
		return nil, err
	}

	config := &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultHash:            crypto.SHA256,
		DefaultCompressionAlgo: packet.CompressionNone,
		S2KConfig: &s2k.Config{
			S2KMode:  s2k.IteratedSaltedS2K,
			Hash:     crypto.SHA256,
			S2KCount: s2kCount,
		},
		AEADConfig: nil, // SEIPD v1 with MDC, SKESK v4
	}
	var out bytes.Buffer
	// A binary literal (not IsUTF8), no file name, date zero: nothing
	// about when the backup was made is inside.
	w, err := openpgp.SymmetricallyEncrypt(&out, []byte(c), &openpgp.FileHints{}, config)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypting: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, fmt.Errorf("backup: encrypting: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("backup: encrypting: %w", err)
	}
	return out.Bytes(), nil
}

// checkUnprotected checks that key is one or more transferable secret keys
// whose secret key packets are all unprotected.
func checkUnprotected(key []byte) error {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(key))
	if err != nil {
		return fmt.Errorf("%w: not an OpenPGP key (%v)", ErrNoSecretKey, err)
	}
	if len(el) == 0 {
		return fmt.Errorf("%w: no key found", ErrNoSecretKey)
	}
	for _, e := range el {
		fpr := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
		if e.PrivateKey == nil {
			return fmt.Errorf("%w: key %s is a public key", ErrNoSecretKey, fpr)
		}
		keys := []*packet.PrivateKey{e.PrivateKey}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				keys = append(keys, sk.PrivateKey)
			}
		}
		for i, k := range keys {
			which := "key " + fpr
			if i > 0 {
				which += fmt.Sprintf(", subkey %X", k.Fingerprint)
			}
			switch {
			case k.Dummy():
				return fmt.Errorf("%w: %s: the secret part is not here (a GnuPG stub, e.g. for a smartcard)", ErrProtectedKey, which)
			case k.Encrypted:
				return fmt.Errorf("%w: %s is protected by a passphrase; unlock it first", ErrProtectedKey, which)
			}
		}
	}
	return nil
}

// Decrypt opens a backup (binary, or armored as a PGP MESSAGE) with a code
// and returns the transferable secret key(s) inside, binary, as they were
// stored (armored contents are dearmored). The code is canonicalized if it
// parses, and used verbatim if it does not (a backup made by a client that
// does not follow XEP-0373's code format).
//
// Decrypt checks that what it returns holds at least one transferable secret
// key, not that the keys are unprotected: a backup made by another client
// may hold protected secret key packets, which the caller then unlocks.
//
// The errors wrap ErrWrongCode, ErrNotABackup, ErrNoSecretKey or
// ErrTooLarge. Nothing decrypted with a wrong code is ever returned or even
// parsed: the whole plaintext is authenticated (MDC or AEAD) first.
func Decrypt(data []byte, code Code) ([]byte, error) {
	return decrypt(data, code, defaultLimits)
}

func decrypt(data []byte, code Code, lim limits) ([]byte, error) {
	passphrase := []byte(code)
	if c, err := ParseCode(string(code)); err == nil {
		passphrase = []byte(c)
	}
	if len(data) > lim.maxInput {
		return nil, fmt.Errorf("%w: the backup is %d bytes", ErrTooLarge, len(data))
	}
	msg, err := dearmor(data, openpgp.MessageType, lim.maxInput)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrNotABackup, err)
	}
	if err := checkStructure(msg); err != nil {
		return nil, err
	}
	nSKESK, err := checkS2KCost(msg, lim)
	if err != nil {
		return nil, err
	}
	if nSKESK > lim.maxSKESK {
		return nil, fmt.Errorf("%w: %d passphrase packets (at most %d are tried)", ErrTooLarge, nSKESK, lim.maxSKESK)
	}
	// Each passphrase packet is tried on a fresh parse of the message: a
	// failed attempt may have consumed the encrypted data.
	wrong := ErrWrongCode
	for i := 0; ; i++ {
		plain, err := tryOpen(msg, i, passphrase, lim)
		switch {
		case errors.Is(err, errNoMoreSKESK):
			return nil, wrong
		case errors.Is(err, ErrWrongCode):
			wrong = err
			continue
		case err != nil:
			return nil, err
		}
		return extractKey(plain, lim)
	}
}

var errNoMoreSKESK = errors.New("backup: no more passphrase packets")

// checkStructure reads the packets before the encrypted data and says, with
// ErrNotABackup, what the message is if it is not symmetrically encrypted.
func checkStructure(msg []byte) error {
	packets := packet.NewReader(bytes.NewReader(msg))
	var nSKESK, nPKESK int
	for {
		p, err := packets.Next()
		if err == io.EOF {
			return fmt.Errorf("%w: no encrypted data", ErrNotABackup)
		}
		if err != nil {
			if nSKESK+nPKESK == 0 {
				return fmt.Errorf("%w: not OpenPGP data (%v)", ErrNotABackup, err)
			}
			return fmt.Errorf("%w: %v", ErrNotABackup, err)
		}
		switch p := p.(type) {
		case *packet.SymmetricKeyEncrypted:
			nSKESK++
		case *packet.EncryptedKey:
			nPKESK++
		case *packet.Padding:
		case *packet.SymmetricallyEncrypted, *packet.AEADEncrypted:
			if se, ok := p.(*packet.SymmetricallyEncrypted); ok && !se.IntegrityProtected {
				return fmt.Errorf("%w: the data is encrypted without integrity protection (no MDC)", ErrNotABackup)
			}
			switch {
			case nSKESK > 0:
				return nil
			case nPKESK > 0:
				return fmt.Errorf("%w: the message is encrypted to a public key, not with a backup code", ErrNotABackup)
			}
			return fmt.Errorf("%w: the message has no passphrase (SKESK) packet", ErrNotABackup)
		case *packet.PrivateKey, *packet.PublicKey:
			return fmt.Errorf("%w: an unencrypted key, not an encrypted message", ErrNotABackup)
		default:
			return fmt.Errorf("%w: not an encrypted message (found a %s)", ErrNotABackup, packetName(p))
		}
	}
}

// tryOpen tries the i-th passphrase packet of msg and returns the
// authenticated plaintext of the encrypted data.
func tryOpen(msg []byte, i int, passphrase []byte, lim limits) ([]byte, error) {
	packets := packet.NewReader(bytes.NewReader(msg))
	var skesk *packet.SymmetricKeyEncrypted
	var edp packet.EncryptedDataPacket
	n := 0
	for edp == nil {
		p, err := packets.Next()
		if err != nil {
			// checkStructure has read these packets already.
			return nil, fmt.Errorf("%w: %v", ErrNotABackup, err)
		}
		switch p := p.(type) {
		case *packet.SymmetricKeyEncrypted:
			if n == i {
				skesk = p
			}
			n++
		case *packet.SymmetricallyEncrypted:
			edp = p
		case *packet.AEADEncrypted:
			edp = p
		}
	}
	if skesk == nil {
		return nil, errNoMoreSKESK
	}
	// With SKESK v4 and a wrong passphrase, the session key usually
	// decrypts to an unknown cipher octet; now and then (1 in 256 for
	// AES-256 session keys) it does not, and always when the SKESK has no
	// encrypted session key (as gpg --symmetric makes it): then the data
	// decrypts to garbage that only the MDC catches, below.
	key, cipher, err := skesk.Decrypt(passphrase)
	if err != nil {
		return nil, ErrWrongCode
	}
	r, err := edp.Decrypt(cipher, key)
	if err != nil {
		if isTruncated(err) {
			return nil, fmt.Errorf("%w: the encrypted data is truncated", ErrNotABackup)
		}
		return nil, ErrWrongCode
	}
	plain, err := io.ReadAll(io.LimitReader(r, int64(lim.maxPlain)+1))
	if err != nil {
		if isTruncated(err) {
			return nil, fmt.Errorf("%w: the encrypted data is truncated", ErrNotABackup)
		}
		return nil, ErrWrongCode
	}
	if len(plain) > lim.maxPlain {
		return nil, fmt.Errorf("%w: the encrypted data is larger than %d bytes", ErrTooLarge, lim.maxPlain)
	}
	// For SEIPD v1, Close checks the MDC.
	if err := r.Close(); err != nil {
		return nil, fmt.Errorf("%w (or the backup is damaged)", ErrWrongCode)
	}
	return plain, nil
}

func isTruncated(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// extractKey finds the transferable secret key in the authenticated
// plaintext of a backup: the contents of a Literal Data packet (possibly
// compressed, possibly armored). A plaintext that is itself the key packets,
// without a Literal Data packet, is accepted too.
func extractKey(plain []byte, lim limits) ([]byte, error) {
	var key []byte
	if len(plain) > 0 && isKeyPacket(plain[0]) {
		key = plain
	} else {
		var err error
		if key, err = literalContents(plain, lim); err != nil {
			return nil, err
		}
	}
	key, err := dearmor(key, openpgp.PrivateKeyType, lim.maxSize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrNoSecretKey, err)
	}
	if len(key) > lim.maxSize {
		return nil, fmt.Errorf("%w: the key is larger than %d bytes", ErrTooLarge, lim.maxSize)
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(key))
	if err != nil {
		return nil, fmt.Errorf("%w: the backup holds no OpenPGP key (%v)", ErrNoSecretKey, err)
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			return bytes.Clone(key), nil
		}
	}
	if len(el) > 0 {
		return nil, fmt.Errorf("%w: the backup holds only public keys", ErrNoSecretKey)
	}
	return nil, fmt.Errorf("%w: the backup holds no key", ErrNoSecretKey)
}

// literalContents returns the contents of the first Literal Data packet of
// plain, decompressing on the way.
func literalContents(plain []byte, lim limits) ([]byte, error) {
	packets := packet.NewReader(bytes.NewReader(plain))
	limit := int64(lim.maxPlain)
	for {
		p, err := packets.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: the backup holds no literal data", ErrNoSecretKey)
		}
		if err != nil {
			if errors.Is(err, pgperrors.ErrMessageTooLarge) {
				return nil, fmt.Errorf("%w: the compressed data inflates beyond %d bytes", ErrTooLarge, limit)
			}
			return nil, fmt.Errorf("%w: %v", ErrNoSecretKey, err)
		}
		switch p := p.(type) {
		case *packet.Compressed:
			if err := packets.Push(p.LimitedBodyReader(&limit)); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoSecretKey, err)
			}
		case *packet.OnePassSignature, *packet.Signature, *packet.Padding:
			// A signed backup: the signature is not ours to check.
		case *packet.LiteralData:
			b, err := io.ReadAll(io.LimitReader(p.Body, int64(lim.maxSize)+1))
			if err != nil {
				if errors.Is(err, pgperrors.ErrMessageTooLarge) {
					return nil, fmt.Errorf("%w: the compressed data inflates beyond %d bytes", ErrTooLarge, limit)
				}
				return nil, fmt.Errorf("%w: %v", ErrNoSecretKey, err)
			}
			if len(b) > lim.maxSize {
				return nil, fmt.Errorf("%w: the key is larger than %d bytes", ErrTooLarge, lim.maxSize)
			}
			return b, nil
		default:
			return nil, fmt.Errorf("%w: the backup holds a %s, not literal data", ErrNoSecretKey, packetName(p))
		}
	}
}

// isKeyPacket says whether b is the first octet of a Secret-Key or
// Public-Key packet header, old or new format.
func isKeyPacket(b byte) bool {
	tag, ok := packetTag(b)
	return ok && (tag == 5 || tag == 6)
}

func packetName(p packet.Packet) string {
	switch p.(type) {
	case *packet.LiteralData:
		return "literal data packet"
	case *packet.Compressed:
		return "compressed data packet"
	case *packet.Signature:
		return "signature packet"
	case *packet.OnePassSignature:
		return "one-pass signature packet"
	case *packet.PublicKey:
		return "public key packet"
	case *packet.PrivateKey:
		return "secret key packet"
	case *packet.UserId:
		return "user ID packet"
	}
	return fmt.Sprintf("%T", p)
}

// dearmor returns data without its ASCII armor, if it has one of the type
// want, and data itself if it is not armored. It reads at most max bytes of
// armored contents.
func dearmor(data []byte, want string, max int) ([]byte, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP ")) {
		return data, nil
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading the armor: %v", err)
	}
	if block.Type != want {
		return nil, fmt.Errorf("armored %q, want %q", block.Type, want)
	}
	b, err := io.ReadAll(io.LimitReader(block.Body, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the armor: %v", err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: the armored data is larger than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}
