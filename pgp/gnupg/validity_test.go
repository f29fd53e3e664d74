package gnupg_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/pgp/pgptest"
)

// Every key carries the validity the user's own trust model gives it, as
// gpg.conf says, and follows changes to the keyring, the trustdb, the TOFU
// database and gpg.conf.
func TestValidity(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	me, err := b.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Import(ctx, pgptest.VectorFile(t, "carol.public.asc")); err != nil {
		t.Fatal(err)
	}
	carol := mustFpr(t, pgptest.CarolFpr)
	owner := map[pgp.Fingerprint]string{carol: "carol@localhost", mustFpr(t, pgptest.AliceFpr): "alice@localhost"}
	want := func(what string, fpr pgp.Fingerprint, v string) {
		t.Helper()
		k, err := b.Key(ctx, fpr)
		if err != nil {
			t.Fatal(err)
		}
		if k.Validity != v {
			t.Errorf("%s: validity %q, want %q", what, k.Validity, v)
		}
		// Every way to a key says the same.
		if j, ok := owner[fpr]; ok {
			ks, err := b.Lookup(ctx, mustJID(t, j))
			if err != nil || len(ks) != 1 || ks[0].Validity != v {
				t.Errorf("%s: lookup: %+v %v", what, ks, err)
			}
		}
		all, err := b.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range all {
			if k.Fingerprint == fpr && k.Validity != v {
				t.Errorf("%s: list: validity %q", what, k.Validity)
			}
		}
	}
	// The default model, pgp: the own key is ultimately trusted; a key
	// nobody the user trusts certified is of unknown validity.
	want("own key", me.Fingerprint, pgp.ValidityUltimate)
	want("imported, pgp", carol, pgp.ValidityUnknown)
	// Certified locally with the own, ultimately trusted key: full.
	gpgRun(t, b.Home(), nil, "--yes", "--quick-lsign-key", pgptest.CarolFpr)
	want("lsigned, pgp", carol, pgp.ValidityFull)
	// Inspect describes keys outside the keyring: no validity.
	if ks, err := b.Inspect(ctx, pgptest.VectorFile(t, "carol.public.asc")); err != nil || ks[0].Validity != "" {
		t.Errorf("inspect: %+v %v", ks, err)
	}

	conf := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(b.Home(), "gpg.conf"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := b.Import(ctx, pgptest.VectorFile(t, "alice.public.asc"))
	if err != nil {
		t.Fatal(err)
	}
	alice := ks[0].Fingerprint
	want("imported, pgp", alice, pgp.ValidityUnknown)
	// "always": gpg lists every key as "-" and treats it as valid.
	conf("trust-model always\n")
	want("always", alice, pgp.ValidityFull)
	want("own key, always", me.Fingerprint, pgp.ValidityFull)
	// TOFU: a binding seen without conflict is marginal (policy auto),
	// one the user marks bad is never valid; the web of trust still
	// counts under tofu+pgp.
	conf("trust-model tofu+pgp\n")
	want("tofu+pgp", alice, pgp.ValidityMarginal)
	want("lsigned, tofu+pgp", carol, pgp.ValidityFull)
	want("own key, tofu+pgp", me.Fingerprint, pgp.ValidityUltimate)
	gpgRun(t, b.Home(), nil, "--tofu-policy", "bad", alice.String())
	want("tofu policy bad", alice, pgp.ValidityNever)
	conf("trust-model pgp\n")
	want("pgp again", alice, pgp.ValidityUnknown)
	// A revoked key is that, whatever its user IDs say.
	gpgRun(t, b.Home(), nil, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", "xmpp:gone@example.org", "ed25519", "cert,sign", "never")
	gone, err := b.Lookup(ctx, mustJID(t, "gone@example.org"))
	if err != nil || len(gone) != 1 {
		t.Fatalf("%+v %v", gone, err)
	}
	rev := filepath.Join(b.Home(), "openpgp-revocs.d", gone[0].Fingerprint.String()+".rev")
	cert, err := os.ReadFile(rev)
	if err != nil {
		t.Fatal(err)
	}
	// gpg writes the certificate with a ':' before the armor, to be removed.
	cert = []byte(strings.Replace(string(cert), ":-----BEGIN", "-----BEGIN", 1))
	gpgRun(t, b.Home(), cert, "--import")
	want("revoked", gone[0].Fingerprint, pgp.ValidityRevoked)
}

// A secret key made for e-mail gets the xmpp: user ID on request, through
// gpg --quick-add-uid, and is then the account's key, ultimately valid.
func TestAddUserID(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	gpgRun(t, b.Home(), nil, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", "User <user@example.org>", "future-default", "default", "1y")
	fpr := mustFpr(t, field(gpgRun(t, b.Home(), nil, "--list-keys"), "fpr", 10))
	before, err := b.Key(ctx, fpr)
	if err != nil {
		t.Fatal(err)
	}
	j := mustJID(t, "user@example.org")
	if before.HasUserID(j) {
		t.Fatal("the key has the xmpp: user ID already")
	}
	if err := b.AddUserID(ctx, fpr, pgp.UserID(j)); err != nil {
		t.Fatal(err)
	}
	ks, err := b.Lookup(ctx, j)
	if err != nil || len(ks) != 1 || !slices.Equal(ks[0].UserIDs, []string{"User <user@example.org>", "xmpp:user@example.org"}) {
		t.Fatalf("after AddUserID: %+v %v", ks, err)
	}
	if k := ks[0]; !k.Expires.Equal(before.Expires) || k.Validity != pgp.ValidityUltimate || !k.Secret {
		t.Errorf("expiry %v (was %v), validity %q, secret %v", k.Expires, before.Expires, k.Validity, k.Secret)
	}
	if err := b.AddUserID(ctx, fpr, pgp.UserID(j)); err != nil {
		t.Errorf("again: %v", err)
	}
	if _, err := b.ExportPublic(ctx, fpr, &j); err != nil {
		t.Errorf("export for OX: %v", err)
	}
	// Not on a contact's certificate, nor on a key that is not there.
	if _, err := b.Import(ctx, pgptest.VectorFile(t, "carol.public.asc")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddUserID(ctx, mustFpr(t, pgptest.CarolFpr), "xmpp:me@example.org"); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("on a certificate: %v", err)
	}
	if err := b.AddUserID(ctx, mustFpr(t, pgptest.AliceFpr), "xmpp:me@example.org"); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("on a missing key: %v", err)
	}
}
