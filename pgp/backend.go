package pgp

import (
	"context"
	"time"

	"mellium.im/xmpp/jid"
)

// DefaultExpiry is how long a generated key is valid unless told otherwise:
// two years, renewable.
const DefaultExpiry = 2 * 365 * 24 * time.Hour

// GenerateOptions tune key generation.
type GenerateOptions struct {
	// Expiry is the key's lifetime from now; zero means the key never expires.
	Expiry time.Duration
	// Passphrase, if not empty, protects the new secret key from its first
	// byte stored (the native backend; GnuPG asks through its pinentry).
	Passphrase []byte
}

// SealOptions say what to do with a plaintext. A zero Signer makes an
// unsigned message (<crypt/>); no Recipients makes a signed, unencrypted one
// (<sign/>). XEP-0373 §3.1.
type SealOptions struct {
	Signer     Fingerprint
	Recipients []Fingerprint
}

// ExportOptions tune ExportPublicWith.
type ExportOptions struct {
	// Certifiers are the keys whose certifications of the exported user ID
	// are kept (with their revocations of them); every other third-party
	// signature is left out.
	Certifiers []Fingerprint
}

// Opened is the result of opening (decrypting and/or verifying) an OpenPGP
// message. It is only returned once the whole message was read, so every
// integrity and signature check has been made.
type Opened struct {
	Plaintext   []byte
	Encrypted   bool
	EncryptedTo []uint64 // key IDs of the PKESKs
	Signed      bool
	// Signer is the signing key, when it is stored (whether or not the
	// signature verified); SignerKeyID is the signature's issuer.
	Signer      *KeyInfo
	SignerKeyID uint64
	// SignatureTime is the signature's creation time.
	SignatureTime time.Time
	// SignatureErr is nil when the signature verified; otherwise a
	// *SignatureError. It is never set when Signed is false.
	SignatureErr error
}

// Backend does the OpenPGP work for one account: it holds the account's own
// secret keys and its contacts' certificates. The embedded go-crypto backend
// and the GnuPG backend implement it; one conformance suite tests both.
//
// Methods take a context because a backend may run programs (gpg) or talk to
// an agent or a smartcard.
type Backend interface {
	// Generate makes a new own key for account: a v4 Ed25519 primary key
	// (certify, sign), a Cv25519 encryption subkey and the single user ID
	// "xmpp:<bare JID>".
	Generate(ctx context.Context, account jid.JID, opts GenerateOptions) (KeyInfo, error)
	// Import reads binary or armored keys (one or several; public or secret)
	// and stores them, merging with what is stored: nothing stored is lost.
	Import(ctx context.Context, data []byte) ([]KeyInfo, error)
	// Inspect parses binary or armored keys and describes them without
	// storing anything, so a caller can vet keys (a fingerprint that
	// matches the PEP node, the right user ID) before importing them.
	Inspect(ctx context.Context, data []byte) ([]KeyInfo, error)
	// Key returns the stored key with that fingerprint, or ErrNotFound.
	Key(ctx context.Context, fpr Fingerprint) (KeyInfo, error)
	// Lookup returns every stored key with the user ID "xmpp:<bare j>",
	// usable or not, newest first; callers filter with KeyInfo.Usable.
	Lookup(ctx context.Context, j jid.JID) ([]KeyInfo, error)
	// SecretKeys returns the own keys (with secret material at hand).
	SecretKeys(ctx context.Context) ([]KeyInfo, error)
	// List returns every stored key, in fingerprint order.
	List(ctx context.Context) ([]KeyInfo, error)
	// ExportPublic writes the key's transferable public key, binary. With
	// minimal set, only the "xmpp:<bare minimalFor>" user ID and its self
	// signatures and the usable subkeys remain (no third-party signatures),
	// as XEP-0373 publishing wants.
	ExportPublic(ctx context.Context, fpr Fingerprint, minimalFor *jid.JID) ([]byte, error)
	// ExportPublicWith is ExportPublic with options: a minimal export that
	// also keeps the certifications of the xmpp: user ID by the keys
	// opts.Certifiers (the web of trust the user chose to publish).
	// Without minimalFor it is ExportPublic's full export.
	ExportPublicWith(ctx context.Context, fpr Fingerprint, minimalFor *jid.JID, opts ExportOptions) ([]byte, error)
	// Certify certifies the user ID uid of the key target with the own key
	// signer: an exportable generic certification (signature type 0x10,
	// as gpg makes by default), stored with target, so the keyring knows
	// it. It returns target's public key for its owner: the user ID uid
	// with its self-signatures and signer's certification, the usable
	// subkeys, nothing else. A certification signer already made of uid is
	// returned again rather than made twice.
	Certify(ctx context.Context, signer, target Fingerprint, uid string) ([]byte, error)
	// ExportSecret writes the transferable secret key, binary, as it is
	// kept: unencrypted (S2K usage 0), as the backup of XEP-0373 §5 wants
	// it, or protected by its passphrase if it has one.
	ExportSecret(ctx context.Context, fpr Fingerprint) ([]byte, error)
	// Seal signs and/or encrypts plaintext as opts say. Every recipient key
	// must be usable now; each of its valid encryption subkeys is encrypted to.
	Seal(ctx context.Context, plaintext []byte, opts SealOptions) ([]byte, error)
	// Open decrypts and/or verifies a binary OpenPGP message, reading it
	// to the end before it returns.
	Open(ctx context.Context, msg []byte) (*Opened, error)
	// Close releases the backend's resources.
	Close() error
}

// OwnerTruster is a backend with a trust model of its own (GnuPG) in which
// the account's own key must be marked as the user's: TrustOwn gives it
// ultimate owner trust and reports whether that changed anything.
type OwnerTruster interface {
	TrustOwn(ctx context.Context, fpr Fingerprint) (bool, error)
}
