package native_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// passphrases answers with pass and counts the questions.
func passphrases(pass string, asked *atomic.Int32) native.PassphraseFunc {
	return func(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
		asked.Add(1)
		return []byte(pass), nil
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A key generated with a passphrase is stored protected; it signs and
// decrypts once unlocked, asking once per process; without the passphrase
// or with a wrong one, every use fails with a *pgp.PassphraseError that
// names the key, never "not encrypted to any of your keys".
func TestProtectedKey(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var asked atomic.Int32
	b := native.New(st, native.WithPassphrase(passphrases("correct horse", &asked)))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{Passphrase: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Protected || !k.Secret {
		t.Errorf("generated: protected %v, secret %v", k.Protected, k.Secret)
	}
	sk, err := st.GetKey(ctx, k.Fingerprint.String())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := native.SecretProtected(sk.Secret); !ok || err != nil {
		t.Fatalf("stored secret protected: %v %v", ok, err)
	}
	self := pgp.SealOptions{Signer: k.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}}
	var msgs [][]byte
	for i := 0; i < 3; i++ {
		msg, err := b.Seal(ctx, []byte("hi"), self)
		if err != nil {
			t.Fatal(err)
		}
		o, err := b.Open(ctx, msg)
		if err != nil || string(o.Plaintext) != "hi" || o.SignatureErr != nil {
			t.Fatalf("open: %v %+v", err, o)
		}
		msgs = append(msgs, msg)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("asked %d times for the passphrase, want once", n)
	}

	// A new process: no passphrase source, then a wrong passphrase.
	for _, c := range []struct {
		name string
		opts []native.Option
		want error
	}{
		{"none", nil, pgp.ErrKeyLocked},
		{"wrong", []native.Option{native.WithPassphrase(passphrases("wrong horse", &asked))}, pgp.ErrBadPassphrase},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := native.New(st, c.opts...)
			_, err := b.Open(ctx, msgs[0])
			var pe *pgp.PassphraseError
			if !errors.As(err, &pe) || pe.Fingerprint != k.Fingerprint || !errors.Is(err, c.want) {
				t.Errorf("open: %v, want a *pgp.PassphraseError for %s wrapping %v", err, k.Fingerprint, c.want)
			}
			if _, err := b.Seal(ctx, []byte("x"), self); !errors.As(err, &pe) || !errors.Is(err, c.want) {
				t.Errorf("seal: %v, want %v", err, c.want)
			}
			if err := b.AddUserID(ctx, k.Fingerprint, "xmpp:alice@example.net"); !errors.Is(err, c.want) {
				t.Errorf("add user ID: %v, want %v", err, c.want)
			}
		})
	}
}

// Changing, removing and adding protection; the export of a protected key
// stays protected and imports elsewhere protected; an unprotected one is
// exported as it is.
func TestChangePassphraseAndExport(t *testing.T) {
	ctx := context.Background()
	var asked atomic.Int32
	pass := "first"
	st := openStore(t)
	b := native.New(st, native.WithPassphrase(func(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
		asked.Add(1)
		return []byte(pass), nil
	}))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exported := func() []byte {
		sec, err := b.ExportSecret(ctx, k.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	if ok, _ := native.SecretProtected(exported()); ok || k.Protected {
		t.Fatal("a key generated without a passphrase is protected")
	}
	if err := b.ChangePassphrase(ctx, k.Fingerprint, []byte("second")); err != nil {
		t.Fatal(err)
	}
	sec := exported()
	if ok, _ := native.SecretProtected(sec); !ok {
		t.Fatal("the export of a protected key is not protected")
	}
	if ki, _ := b.Key(ctx, k.Fingerprint); !ki.Protected {
		t.Error("Key does not say protected")
	}
	// Elsewhere: imported protected, usable with its passphrase only.
	var asked2 atomic.Int32
	other := native.New(openStore(t), native.WithPassphrase(passphrases("second", &asked2)))
	ks, err := other.Import(ctx, sec)
	if err != nil || len(ks) != 1 || !ks[0].Protected || !ks[0].Secret {
		t.Fatalf("import: %+v %v", ks, err)
	}
	msg, err := other.Seal(ctx, []byte("moved"), pgp.SealOptions{Signer: k.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	// This process unlocked the key before its passphrase changed: it
	// stays unlocked, the new passphrase is not asked for.
	if o, err := b.Open(ctx, msg); err != nil || string(o.Plaintext) != "moved" {
		t.Fatalf("open: %v", err)
	}
	// A new process needs the new passphrase.
	pass = "second"
	b = native.New(st, native.WithPassphrase(passphrases("second", &asked2)))
	if err := b.ChangePassphrase(ctx, k.Fingerprint, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := native.SecretProtected(exported()); ok {
		t.Error("protection not removed")
	}
	if _, err := native.New(st).Open(ctx, msg); err != nil {
		t.Errorf("unprotected, opened without a passphrase: %v", err)
	}
}

// GnuPG 2.2 reads a key ox protected, with its passphrase, and ox reads a
// key GnuPG protected (issue 18 item 8: the protection is OpenPGP's own).
func TestGnuPGReadsProtectedKeys(t *testing.T) {
	gpg := gpgtest.Require(t)
	ctx := context.Background()
	home := gpgtest.Home(t)
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "gpg pass"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
		}
		return out.Bytes()
	}
	var asked atomic.Int32
	b := native.New(openStore(t), native.WithPassphrase(passphrases("gpg pass", &asked)))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{Passphrase: []byte("gpg pass")})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := b.ExportSecret(ctx, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	run(sec, "--import")
	msg, err := b.Seal(ctx, []byte("to gpg"), pgp.SealOptions{Signer: k.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "msg.pgp")
	if err := os.WriteFile(in, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(nil, "--trust-model", "always", "--decrypt", in); string(out) != "to gpg" {
		t.Errorf("gpg decrypted %q", out)
	}

	// The other way: a key gpg made with a passphrase.
	run(nil, "--quick-gen-key", "xmpp:carol@example.org", "ed25519", "cert,sign", "never")
	fpr := strings.Fields(string(run(nil, "--list-secret-keys", "--with-colons", "xmpp:carol@example.org")))
	var cfpr string
	for _, l := range strings.Split(strings.Join(fpr, "\n"), "\n") {
		if strings.HasPrefix(l, "fpr:") && cfpr == "" {
			cfpr = strings.Split(l, ":")[9]
		}
	}
	run(nil, "--quick-add-key", cfpr, "cv25519", "encr", "never")
	gsec := run(nil, "--export-secret-keys", cfpr)
	ks, err := b.Import(ctx, gsec)
	if err != nil || len(ks) != 1 || !ks[0].Protected {
		t.Fatalf("import gpg's protected key: %+v %v", ks, err)
	}
	gmsg := run([]byte("from gpg"), "--trust-model", "always", "--encrypt", "--sign", "-u", cfpr, "-r", cfpr)
	o, err := b.Open(ctx, gmsg)
	if err != nil || string(o.Plaintext) != "from gpg" || o.SignatureErr != nil {
		t.Fatalf("open gpg's message: %v %+v", err, o)
	}
}

// The XEP-0373 §5.4 backup takes a protected key unlocked.
func TestExportSecretUnprotected(t *testing.T) {
	ctx := context.Background()
	var asked atomic.Int32
	b := native.New(openStore(t), native.WithPassphrase(passphrases("pw", &asked)))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := b.ExportSecretUnprotected(ctx, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := native.SecretProtected(sec); ok || err != nil {
		t.Errorf("protected %v %v", ok, err)
	}
	ks, err := native.New(openStore(t)).Import(ctx, sec)
	if err != nil || len(ks) != 1 || ks[0].Protected || !ks[0].Secret {
		t.Errorf("import: %+v %v", ks, err)
	}
	if _, err := native.New(openStore(t)).ExportSecretUnprotected(ctx, k.Fingerprint); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
}

// Importing an unprotected copy of a key stored protected (an old export)
// keeps the protection.
func TestImportKeepsProtection(t *testing.T) {
	ctx := context.Background()
	var asked atomic.Int32
	b := native.New(openStore(t), native.WithPassphrase(passphrases("pw", &asked)))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := b.ExportSecret(ctx, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ChangePassphrase(ctx, k.Fingerprint, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	ks, err := b.Import(ctx, plain)
	if err != nil || len(ks) != 1 || !ks[0].Protected || !ks[0].Secret {
		t.Fatalf("import: %+v %v", ks, err)
	}
	sec, err := b.ExportSecret(ctx, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := native.SecretProtected(sec); !ok {
		t.Error("the unprotected import stripped the passphrase")
	}
}
