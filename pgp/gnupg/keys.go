package gnupg

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// Generate makes a key for account with gpg: an Ed25519 primary key
// (certify, sign) with the single user ID "xmpp:<bare JID>", then a Cv25519
// encryption subkey with the same expiry:
//
//	gpg --quick-generate-key xmpp:JID ed25519 cert,sign seconds=N|never
//	gpg --quick-add-key FPR cv25519 encr seconds=N|never
//
// Both run with an empty passphrase (--pinentry-mode loopback --passphrase
// ""): an IM key has no passphrase by default, as the native backend's;
// 'gpg --passwd FPR' adds one, and the backend goes on working with it
// through gpg-agent. gpg records the key as ultimately trusted and stores a
// revocation certificate in openpgp-revocs.d, as for any key it makes.
func (b *Backend) Generate(ctx context.Context, account jid.JID, opts pgp.GenerateOptions) (pgp.KeyInfo, error) {
	if account.Localpart() == "" || account.Domainpart() == "" {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: cannot make a key for %q: want a bare JID like alice@example.org", account.String())
	}
	if opts.Expiry < 0 {
		return pgp.KeyInfo{}, fmt.Errorf("pgp: negative key expiry %v", opts.Expiry)
	}
	expire := "never"
	if secs := int64(opts.Expiry / time.Second); secs > 0 {
		if secs > 1<<32-1 {
			return pgp.KeyInfo{}, fmt.Errorf("pgp: key expiry %v is longer than OpenPGP can say (136 years)", opts.Expiry)
		}
		expire = "seconds=" + strconv.FormatInt(secs, 10)
	}
	noPass := []string{"--pinentry-mode", "loopback", "--passphrase", ""}
	r, err := b.run(ctx, nil, 0, append(noPass, "--yes", "--quick-generate-key", pgp.UserID(account), "ed25519", "cert,sign", expire)...)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	fpr, ok := created(r, "P")
	if !ok {
		return pgp.KeyInfo{}, b.gpgError("generate key", r, "")
	}
	r, err = b.run(ctx, nil, 0, append(noPass, "--quick-add-key", fpr.String(), "cv25519", "encr", expire)...)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	if _, ok := created(r, "S"); !ok {
		err := b.gpgError("generate encryption subkey", r, fpr.String())
		// A key that cannot receive messages is no OX key: take it away.
		_, _ = b.run(context.WithoutCancel(ctx), nil, 0, "--yes", "--delete-secret-and-public-key", fpr.String())
		return pgp.KeyInfo{}, err
	}
	return b.Key(ctx, fpr)
}

// created reads "KEY_CREATED <type> <fingerprint>" (type P: primary key,
// B: primary and subkey, S: subkey).
func created(r *result, want string) (pgp.Fingerprint, bool) {
	for _, s := range r.all("KEY_CREATED") {
		if s.arg(0) == want || want == "P" && s.arg(0) == "B" {
			f, err := pgp.ParseFingerprint(s.arg(1))
			return f, err == nil
		}
	}
	return pgp.Fingerprint{}, false
}

// Import stores keys with gpg --import, which merges them with what is
// stored (see pgp.Backend). Its IMPORT_OK status lines name each key read;
// IMPORT_RES counts those gpg refused.
func (b *Backend) Import(ctx context.Context, data []byte) ([]pgp.KeyInfo, error) {
	bin, err := keyBlocks(data)
	if err != nil {
		return nil, err
	}
	r, err := b.run(ctx, bin, 0, "--import")
	if err != nil {
		return nil, err
	}
	var fprs []pgp.Fingerprint
	seen := map[pgp.Fingerprint]bool{}
	for _, s := range r.all("IMPORT_OK") {
		f, err := pgp.ParseFingerprint(s.arg(1))
		if err != nil || seen[f] {
			continue
		}
		seen[f] = true
		fprs = append(fprs, f)
	}
	var failed error
	if res, ok := r.first("IMPORT_RES"); ok {
		count, _ := strconv.Atoi(res.arg(0))
		noUID, _ := strconv.Atoi(res.arg(1))
		switch {
		case noUID > 0:
			failed = fmt.Errorf("%w: %d key(s) without a valid self-signed user ID were not imported", pgp.ErrUnsupportedKey, noUID)
		case count > len(fprs):
			failed = fmt.Errorf("%w: gpg did not import %d of %d key(s): %s", pgp.ErrUnsupportedKey, count-len(fprs), count, r.detail())
		}
	}
	if len(fprs) == 0 {
		if failed != nil {
			return nil, failed
		}
		if _, kind := r.failure(); kind != nil {
			return nil, b.gpgError("import", r, "")
		}
		if r.has("NODATA") || r.exit != 0 {
			return nil, fmt.Errorf("%w: gpg found no key to import: %s", pgp.ErrMalformed, r.detail())
		}
		return nil, fmt.Errorf("%w: no key in the data", pgp.ErrMalformed)
	}
	if r.exit != 0 && failed == nil {
		// A secret key gpg-agent did not take (no agent, say).
		if _, kind := r.failure(); kind != nil {
			failed = b.gpgError("import", r, "")
		}
	}
	ks, err := b.keys(ctx, fprs...)
	if err != nil {
		return nil, err
	}
	return ks, failed
}

// Inspect describes keys without storing them: gpg --show-keys (an import
// with the options show-only and dry-run).
func (b *Backend) Inspect(ctx context.Context, data []byte) ([]pgp.KeyInfo, error) {
	bin, err := keyBlocks(data)
	if err != nil {
		return nil, err
	}
	// gpg --show-keys with the trust model "always" cannot show a revoked
	// key where there is no trustdb yet (it fails to open it); "direct"
	// makes one.
	r, err := b.run(ctx, bin, 0, "--trust-model", "direct", "--show-keys", "--with-subkey-fingerprint", "--with-sig-check")
	if err != nil {
		return nil, err
	}
	keys := parseColons(r.stdout)
	if revokedIn(keys) && (len(keys) == 0 || !keys[0].sigChecks) {
		// Tell the key's own revocations from its parts' (see info).
		if r2, err := b.run(ctx, bin, 0, "--trust-model", "direct", "--show-keys", "--with-subkey-fingerprint", "--with-sig-check"); err == nil && r2.exit == 0 {
			keys = parseColons(r2.stdout)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: gpg found no key: %s", pgp.ErrMalformed, r.detail())
	}
	out := make([]pgp.KeyInfo, 0, len(keys))
	for _, k := range keys {
		ki := k.info()
		ki.Secret = k.secret
		ki.Validity = "" // not in the keyring: no validity of the user's
		out = append(out, ki)
	}
	return out, nil
}

func revokedIn(keys []*listedKey) bool {
	for _, k := range keys {
		if k.pub.validity == "r" {
			return true
		}
	}
	return false
}

// ExportPublic writes the key's transferable public key (see pgp.Backend).
// The minimal export is gpg's:
//
//	gpg --export --export-options export-minimal
//	    --export-filter 'keep-uid=uid = xmpp:JID'
//	    --export-filter 'drop-subkey=usage = a' FPR
//
// export-minimal keeps only the newest self-signature of each user ID (no
// third-party certifications), keep-uid the xmpp: user ID, and drop-subkey
// the authentication-only subkeys, which have no place in OX.
func (b *Backend) ExportPublic(ctx context.Context, fpr pgp.Fingerprint, minimalFor *jid.JID) ([]byte, error) {
	ki, err := b.Key(ctx, fpr)
	if err != nil {
		return nil, err
	}
	args := []string{"--export", "--no-armor"}
	if minimalFor != nil {
		uid, ok := matchingUID(ki, *minimalFor)
		if !ok {
			return nil, &Error{Op: "export", Err: pgp.ErrUnsupportedKey, Key: fpr.String(),
				Detail: "the key has no user ID " + pgp.UserID(*minimalFor),
				Advice: "add it: gpg --quick-add-uid " + fpr.String() + " " + pgp.UserID(*minimalFor)}
		}
		args = append(args, "--export-options", "export-minimal",
			"--export-filter", "keep-uid=uid = "+uid,
			"--export-filter", "drop-subkey=usage = a")
	}
	r, err := b.run(ctx, nil, 0, append(args, "--", fpr.String())...)
	if err != nil {
		return nil, err
	}
	if r.exit != 0 || len(r.stdout) == 0 {
		return nil, b.gpgError("export", r, fpr.String())
	}
	return r.stdout, nil
}

// matchingUID finds the user ID that binds the key to j, as the key spells
// it (gpg's filter compares strings).
func matchingUID(ki pgp.KeyInfo, j jid.JID) (string, bool) {
	want := j.Bare()
	for _, u := range ki.UserIDs {
		if v, ok := pgp.JIDFromUserID(u); ok && v.Equal(want) && !strings.Contains(u, "&&") {
			return u, true
		}
	}
	return "", false
}

// ExportSecret writes the transferable secret key for the XEP-0373 §5
// backup: gpg --export-secret-keys FPR. This is the one place ox handles
// secret key material from GnuPG, because the backup needs it; gpg-agent
// hands it out only after it unlocks the key, so a key with a passphrase
// makes it ask for that passphrase (pinentry), and the export stays
// protected by it: gpg-agent does not export keys unprotected. Such a backup
// restores into GnuPG (and ox's GnuPG backend); ox's native backend refuses
// it and says to remove the passphrase first. Keys on a smartcard (or
// offline, with only a stub in GnuPG) cannot be backed up: ErrNoSecretKey.
func (b *Backend) ExportSecret(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
	ki, err := b.Key(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if !ki.Secret {
		return nil, fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	if where, ok := b.notExportable(ctx, fpr); ok {
		return nil, &Error{Op: "export secret key", Err: pgp.ErrNoSecretKey, Key: fpr.String(), Detail: where,
			Advice: "back up the key where it lives; ox can back up only keys whose secret parts gpg-agent holds"}
	}
	r, err := b.run(ctx, nil, 0, "--export-secret-keys", "--no-armor", "--", fpr.String())
	if err != nil {
		return nil, err
	}
	if r.exit != 0 || len(r.stdout) == 0 {
		return nil, b.gpgError("export secret key", r, fpr.String())
	}
	return r.stdout, nil
}

// notExportable tells whether some part of the key's secret is on a card
// or missing (a stub), from the secret key listing.
func (b *Backend) notExportable(ctx context.Context, fpr pgp.Fingerprint) (string, bool) {
	r, err := b.run(ctx, nil, 0, "--list-secret-keys", "--with-subkey-fingerprint", "--", fpr.String())
	if err != nil {
		return "", false
	}
	for _, k := range parseColons(r.stdout) {
		if k.pub.fpr != fpr {
			continue
		}
		for _, s := range append([]listedSub{k.pub}, k.subs...) {
			switch {
			case s.token == "#":
				return "the secret of (sub)key " + pgp.KeyIDString(s.keyID) + " is not in GnuPG (only a stub is)", true
			case s.token != "+" && s.token != "":
				return "(sub)key " + pgp.KeyIDString(s.keyID) + " is on the smartcard " + s.token, true
			}
		}
	}
	return "", false
}

// TrustOwn gives the account's own key fpr ultimate owner trust, as gpg
// does for a key it generates (an imported secret key stays at "unknown"
// until the owner says otherwise). It reports whether the trust changed;
// a key already ultimately trusted is left as it is.
func (b *Backend) TrustOwn(ctx context.Context, fpr pgp.Fingerprint) (bool, error) {
	k, err := b.Key(ctx, fpr)
	if err != nil {
		return false, err
	}
	if !k.Secret {
		return false, fmt.Errorf("gnupg: will not trust key %s ultimately: %w", fpr, pgp.ErrNoSecretKey)
	}
	if k.Validity == pgp.ValidityUltimate {
		return false, nil
	}
	// gpg's ownertrust list: FINGERPRINT:6: is "ultimate" (doc/DETAILS).
	if _, err := b.run(ctx, []byte(fpr.String()+":6:\n"), 0, "--import-ownertrust"); err != nil {
		return false, err
	}
	return true, nil
}
