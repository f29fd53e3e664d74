package gnupg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"codeberg.org/ox/ox/pgp"
)

var _ pgp.KeyLifecycle = (*Backend)(nil)

// revocationMenu is the number gpg --gen-revoke's menu gives each reason
// ("1 = Key has been compromised", ...): not the reason code itself.
var revocationMenu = map[pgp.RevocationReason]string{
	pgp.RevocationNoReason:    "0",
	pgp.RevocationCompromised: "1",
	pgp.RevocationSuperseded:  "2",
	pgp.RevocationRetired:     "3",
}

// genRevoke has gpg make a revocation certificate for fpr with reason and
// text, answering gpg --gen-revoke's questions through --command-fd:
//
//	gpg --no-batch --command-fd 0 --armor --gen-revoke FPR
//
// (--gen-revoke refuses to run in batch mode, but with --command-fd it asks
// nothing of a terminal: gen_revoke.okay, ask_revocation_reason.code, the
// text one line at a time up to an empty one, ask_revocation_reason.okay).
// gpg-agent makes the signature, asking for the key's passphrase if it has
// one. Nothing is imported.
func (b *Backend) genRevoke(ctx context.Context, fpr pgp.Fingerprint, reason pgp.RevocationReason, text string) ([]byte, error) {
	code, ok := revocationMenu[reason]
	if !ok {
		return nil, fmt.Errorf("pgp: gpg cannot make a revocation with %s", reason)
	}
	answers := "y\n" + code + "\n"
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			answers += line + "\n"
		}
	}
	answers += "\ny\n"
	r, err := b.run(ctx, []byte(answers), 0, "--no-batch", "--command-fd", "0", "--armor", "--gen-revoke", fpr.String())
	if err != nil {
		return nil, err
	}
	if r.exit != 0 || !bytes.Contains(r.stdout, []byte("-----BEGIN PGP")) {
		return nil, b.gpgError("make a revocation", r, fpr.String())
	}
	return r.stdout, nil
}

// ownKey returns the own key fpr, or ErrNoSecretKey.
func (b *Backend) ownKey(ctx context.Context, fpr pgp.Fingerprint, op string) (pgp.KeyInfo, error) {
	ki, err := b.Key(ctx, fpr)
	if err != nil {
		return ki, err
	}
	if !ki.Secret {
		return ki, fmt.Errorf("%w for %s: it is a contact's certificate, and only its owner can %s it", pgp.ErrNoSecretKey, fpr, op)
	}
	return ki, nil
}

// Revoke revokes the own key fpr (see pgp.KeyLifecycle): gpg makes the
// revocation certificate with opts' reason and text (genRevoke), and ox
// imports it at once.
func (b *Backend) Revoke(ctx context.Context, fpr pgp.Fingerprint, opts pgp.RevokeOptions) (pgp.KeyInfo, error) {
	if _, err := b.ownKey(ctx, fpr, "revoke"); err != nil {
		return pgp.KeyInfo{}, err
	}
	cert, err := b.genRevoke(ctx, fpr, opts.Reason, opts.Text)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	return b.ApplyRevocation(ctx, cert)
}

// RevocationCertificate returns the certificate gpg stored when it made the
// key (GNUPGHOME/openpgp-revocs.d/FPR.rev, with gpg's explanation and the
// colon that guards it against an accidental import, which
// ApplyRevocation takes away), or, for a key gpg did not make here, a new
// one without a reason (genRevoke).
func (b *Backend) RevocationCertificate(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
	if _, err := b.ownKey(ctx, fpr, "make a revocation certificate for"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(b.home, "openpgp-revocs.d", fpr.String()+".rev"))
	if err == nil && bytes.Contains(data, []byte("-----BEGIN PGP")) {
		return data, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pgp: read gpg's revocation certificate: %w", err)
	}
	return b.genRevoke(ctx, fpr, pgp.RevocationNoReason, "")
}

// ApplyRevocation imports a revocation certificate with gpg --import once
// ox has seen that it is one (signature packets only) for a stored key;
// gpg checks the signature (see pgp.KeyLifecycle).
func (b *Backend) ApplyRevocation(ctx context.Context, cert []byte) (pgp.KeyInfo, error) {
	bin, err := revocationPackets(pgp.UnguardRevocation(cert))
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	p, _, err := nextPacket(bin)
	if err != nil {
		return pgp.KeyInfo{}, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
	}
	keyID, fprBytes, ok := sigIssuer(p.body)
	if !ok {
		return pgp.KeyInfo{}, fmt.Errorf("%w: the revocation certificate names no issuer", pgp.ErrMalformed)
	}
	var ki pgp.KeyInfo
	if fpr, ok := pgp.FingerprintFromBytes(fprBytes); ok {
		ki, err = b.Key(ctx, fpr)
	} else {
		var found bool
		ki, found, err = b.keyByID(ctx, keyID)
		if err == nil && !found {
			err = fmt.Errorf("%w: key ID %s", pgp.ErrNotFound, pgp.KeyIDString(keyID))
		}
	}
	if errors.Is(err, pgp.ErrNotFound) {
		return pgp.KeyInfo{}, fmt.Errorf("%w: the revocation certificate is for key ID %s, which is not stored: import the key first", pgp.ErrNotFound, pgp.KeyIDString(keyID))
	}
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	r, err := b.run(ctx, bin, 0, "--import")
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	after, err := b.Key(ctx, ki.Fingerprint)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	if !after.Revoked {
		return after, &Error{Op: "revoke", Err: pgp.ErrMalformed, Key: ki.Fingerprint.String(),
			Detail: nonEmpty(r.detail(), "gpg did not take the revocation certificate")}
	}
	return after, nil
}

// revocationPackets returns the binary packets of a revocation certificate
// (binary or armored), refusing what does not start with a signature.
func revocationPackets(data []byte) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty revocation certificate", pgp.ErrMalformed)
	}
	bin := data
	if i := bytes.Index(data, []byte("-----BEGIN PGP")); i >= 0 {
		block, err := armor.Decode(bytes.NewReader(data[i:]))
		if err != nil {
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		if bin, err = io.ReadAll(io.LimitReader(block.Body, 1<<20)); err != nil {
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
	}
	for rest := bin; len(rest) > 0; {
		p, r, err := nextPacket(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		if p.tag != tagSignature || p.partial {
			return nil, fmt.Errorf("%w: not a revocation certificate (it holds a packet of type %d); a revoked key is imported like any other", pgp.ErrMalformed, p.tag)
		}
		rest = r
	}
	return bin, nil
}

// Renew sets the expiry of the own key fpr and of its subkeys (see
// pgp.KeyLifecycle):
//
//	gpg --quick-set-expire FPR seconds=N|never
//	gpg --quick-set-expire FPR seconds=N|never '*'
//
// gpg makes the new self-signatures through gpg-agent.
func (b *Backend) Renew(ctx context.Context, fpr pgp.Fingerprint, expiry time.Duration) (pgp.KeyInfo, error) {
	ki, err := b.ownKey(ctx, fpr, "renew")
	if err != nil {
		return ki, err
	}
	if ki.Revoked {
		return ki, &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonRevoked, At: ki.RevokedAt}
	}
	now := b.clock()
	if _, err := pgp.ExpiryLifetime(ki.Created, now, expiry); err != nil {
		return ki, err
	}
	expire := "never"
	if secs := int64(expiry / time.Second); secs > 0 {
		expire = "seconds=" + strconv.FormatInt(secs, 10)
	}
	for _, extra := range [][]string{nil, {"*"}} {
		if len(extra) > 0 && len(ki.Subkeys) == 0 {
			break
		}
		r, err := b.run(ctx, nil, 0, append([]string{"--quick-set-expire", fpr.String(), expire}, extra...)...)
		if err != nil {
			return ki, err
		}
		if r.exit != 0 {
			return ki, b.gpgError("renew", r, fpr.String())
		}
	}
	return b.Key(ctx, fpr)
}

// revocationFields splits a "rev" record's class field ("20x,02": class,
// then the reason code in hex) and unescapes its comment (field 21, escaped
// like a user ID).
func revocationFields(class, comment string) (string, pgp.RevocationReason, string) {
	c, code, ok := strings.Cut(class, ",")
	if !ok {
		return class, pgp.RevocationNoReason, ""
	}
	n, err := strconv.ParseUint(code, 16, 8)
	if err != nil {
		return c, pgp.RevocationNoReason, unescape(comment)
	}
	return c, pgp.RevocationReason(n), unescape(comment)
}

// noteRevocations records the good key revocations (class 0x20) of a
// listing in ki.
func noteRevocations(ki *pgp.KeyInfo, revs []listedSig) {
	for _, r := range revs {
		if r.good && strings.HasPrefix(r.class, "20") {
			ki.NoteRevocation(r.reason, r.created, r.comment)
		}
	}
}
