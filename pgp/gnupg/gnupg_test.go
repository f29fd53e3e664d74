package gnupg_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/pgp/pgptest"
	"codeberg.org/ox/ox/store"
)

// requireGPG skips a test when gpg is missing, saying why, except where
// the integration tests must run (CI, OX_REQUIRE_INTEGRATION): there it
// fails.
func requireGPG(t testing.TB) { gpgtest.Require(t) }

// newHome makes a throw-away GNUPGHOME (see gpgtest.Home).
func newHome(t testing.TB) string { return gpgtest.Home(t) }

// killAgent stops the agent of a home that outlives one test (the
// benchmarks' keyrings) and removes the home.
func killAgent(home string) {
	_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
	_ = os.RemoveAll(home)
}

func newBackend(t testing.TB, opts gnupg.Options) *gnupg.Backend {
	t.Helper()
	requireGPG(t)
	if opts.Home == "" {
		opts.Home = newHome(t)
	}
	b, err := gnupg.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func gnupgBackend(t *testing.T) pgp.Backend { return newBackend(t, gnupg.Options{}) }

func nativeBackend(t *testing.T) pgp.Backend {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return native.New(st)
}

// gpgRun runs gpg itself on home, as a user would.
func gpgRun(t testing.TB, home string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--no-tty", "--with-colons"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes()
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestConformance(t *testing.T) {
	requireGPG(t)
	pgptest.Run(t, gnupgBackend)
}

// GnuPG and the native backend read each other's keys and messages.
func TestInteropWithNative(t *testing.T) {
	requireGPG(t)
	pgptest.RunInterop(t, gnupgBackend, nativeBackend)
}

func TestNewErrors(t *testing.T) {
	_, err := gnupg.New(gnupg.Options{GPG: "/nonexistent/gpg", Home: t.TempDir()})
	if !errors.Is(err, gnupg.ErrGPGNotFound) {
		t.Errorf("missing gpg: %v", err)
	}
	var h interface{ Hint() string }
	if !errors.As(err, &h) || h.Hint() == "" {
		t.Errorf("no hint for a missing gpg: %v", err)
	}
	dir := t.TempDir()
	old := filepath.Join(dir, "gpg")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho 'gpg (GnuPG) 2.1.18'\necho 'libgcrypt 1.7.6'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = gnupg.New(gnupg.Options{GPG: old, Home: t.TempDir()})
	var ve *gnupg.VersionError
	if !errors.Is(err, gnupg.ErrGPGTooOld) || !errors.As(err, &ve) || ve.Version != "2.1.18" || !strings.Contains(err.Error(), gnupg.MinVersion) {
		t.Errorf("old gpg: %v", err)
	}
	t.Log(err, "/", ve.Hint())
	notGnuPG := filepath.Join(dir, "notgpg")
	if err := os.WriteFile(notGnuPG, []byte("#!/bin/sh\necho 'something else 1.0'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gnupg.New(gnupg.Options{GPG: notGnuPG, Home: t.TempDir()}); !errors.Is(err, gnupg.ErrGPGNotFound) {
		t.Errorf("not GnuPG: %v", err)
	}
	requireGPG(t)
	b := newBackend(t, gnupg.Options{})
	if !strings.HasPrefix(b.Version(), "2.") {
		t.Errorf("version %q", b.Version())
	}
}

// A passphrase-protected key, the GnuPG user's own, works through
// gpg-agent once its passphrase is cached; here it is preset with
// gpg-preset-passphrase, as a login session (pam-gnupg) would. Without it,
// and without a pinentry, the failure says what to do.
func TestPassphraseProtectedKey(t *testing.T) {
	requireGPG(t)
	ctx := context.Background()
	home := newHome(t)
	// A small S2K count: gpg-agent's default takes seconds per key here.
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("allow-preset-passphrase\ns2k-count 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pass = "correct horse battery staple"
	gpgRun(t, home, nil, "--pinentry-mode", "loopback", "--passphrase", pass, "--quick-generate-key", "xmpp:pp@example.org", "ed25519", "cert,sign", "2y")
	out := gpgRun(t, home, nil, "--list-keys", "xmpp:pp@example.org")
	fpr := field(out, "fpr", 10)
	gpgRun(t, home, nil, "--pinentry-mode", "loopback", "--passphrase", pass, "--quick-add-key", fpr, "cv25519", "encr", "2y")
	// A new agent, which has forgotten the passphrase.
	if err := exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run(); err != nil {
		t.Fatal(err)
	}

	b := newBackend(t, gnupg.Options{Home: home, NoPinentry: true})
	me, err := pgp.ParseFingerprint(fpr)
	if err != nil {
		t.Fatal(err)
	}
	k, err := b.Key(ctx, me)
	if err != nil || !k.Secret || fmt.Sprint(k.UserIDs) != "[xmpp:pp@example.org]" {
		t.Fatalf("%+v %v", k, err)
	}
	msg := []byte("<signcrypt/>")
	_, err = b.Seal(ctx, msg, pgp.SealOptions{Signer: me, Recipients: []pgp.Fingerprint{me}})
	if !errors.Is(err, gnupg.ErrNoPinentry) {
		t.Fatalf("signing with a locked key and no pinentry: %v, want ErrNoPinentry", err)
	}
	t.Log(err)
	crypt, err := b.Seal(ctx, msg, pgp.SealOptions{Recipients: []pgp.Fingerprint{me}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, crypt); !errors.Is(err, gnupg.ErrNoPinentry) {
		t.Fatalf("decrypting with a locked key and no pinentry: %v, want ErrNoPinentry", err)
	}

	// The same where gpg.conf makes gpg ask for passphrases itself.
	if err := os.WriteFile(filepath.Join(home, "gpg.conf"), []byte("pinentry-mode loopback\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loop := newBackend(t, gnupg.Options{Home: home})
	if _, err := loop.Open(ctx, crypt); !errors.Is(err, gnupg.ErrNoPinentry) {
		t.Fatalf("decrypting with a locked key, loopback and no passphrase: %v, want ErrNoPinentry", err)
	}
	if _, err := loop.Seal(ctx, msg, pgp.SealOptions{Signer: me}); !errors.Is(err, gnupg.ErrNoPinentry) {
		t.Fatalf("signing with a locked key, loopback and no passphrase: %v, want ErrNoPinentry", err)
	}
	if err := os.Remove(filepath.Join(home, "gpg.conf")); err != nil {
		t.Fatal(err)
	}

	presetPassphrase(t, home, pass)
	ct, err := b.Seal(ctx, msg, pgp.SealOptions{Signer: me, Recipients: []pgp.Fingerprint{me}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Open(ctx, ct)
	if err != nil || !bytes.Equal(o.Plaintext, msg) || o.SignatureErr != nil || o.Signer == nil || o.Signer.Fingerprint != me {
		t.Fatalf("%+v %v", o, err)
	}
	// The native backend reads what the protected key signed.
	nb := nativeBackend(t)
	j := mustJID(t, "pp@example.org")
	pub, err := b.ExportPublic(ctx, me, &j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nb.Import(ctx, pub); err != nil {
		t.Fatal(err)
	}
	signed, err := b.Seal(ctx, msg, pgp.SealOptions{Signer: me})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := nb.Open(ctx, signed); err != nil || o.SignatureErr != nil {
		t.Errorf("native reads the signature: %+v %v", o, err)
	}
}

// presetPassphrase gives gpg-agent the passphrase of every secret key in
// home, with gpg-preset-passphrase (allow-preset-passphrase must be set).
func presetPassphrase(t *testing.T, home, pass string) {
	t.Helper()
	libexec, err := exec.Command("gpgconf", "--list-dirs", "libexecdir").Output()
	if err != nil {
		t.Fatal(err)
	}
	preset := filepath.Join(strings.TrimSpace(string(libexec)), "gpg-preset-passphrase")
	if _, err := os.Stat(preset); err != nil {
		// It comes with gpg-agent, which the GnuPG backend needs anyway.
		if gpgtest.Required() {
			t.Fatalf("gpg-preset-passphrase is not installed (%v); CI requires it (apt-get install gpg-agent)", err)
		}
		t.Skipf("gpg-preset-passphrase is not installed (%v)", err)
	}
	out := gpgRun(t, home, nil, "--list-secret-keys", "--with-keygrip")
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if f[0] != "grp" || len(f) < 10 {
			continue
		}
		cmd := exec.Command(preset, "--preset", "-P", pass, f[9])
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gpg-preset-passphrase: %v\n%s", err, out)
		}
	}
}

// field returns field n (1-based) of the first record of kind rec.
func field(out []byte, rec string, n int) string {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if f[0] == rec && len(f) >= n {
			return f[n-1]
		}
	}
	return ""
}

// A key disabled in GnuPG is unusable, reported as revoked.
func TestDisabledKey(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	me, err := b.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := b.Import(ctx, pgptest.VectorFile(t, "carol.public.asc"))
	if err != nil {
		t.Fatal(err)
	}
	carol := ks[0].Fingerprint
	if _, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{carol}}); err != nil {
		t.Fatal(err)
	}
	gpgRun(t, b.Home(), nil, "--edit-key", carol.String(), "disable", "quit")
	k, err := b.Key(ctx, carol)
	if err != nil || !k.Revoked || !k.RevokedAt.IsZero() {
		t.Fatalf("disabled key: %+v %v", k, err)
	}
	_, err = b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{carol}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked {
		t.Errorf("encrypting to a disabled key: %v", err)
	}
}

// Keys that change in GnuPG behind ox's back are seen at once.
func TestKeyringChangedOutside(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	carol := mustJID(t, "carol@localhost")
	if ks, err := b.Lookup(ctx, carol); err != nil || len(ks) != 0 {
		t.Fatalf("%v %v", ks, err)
	}
	gpgRun(t, b.Home(), pgptest.VectorFile(t, "carol.public.asc"), "--import")
	if ks, err := b.Lookup(ctx, carol); err != nil || len(ks) != 1 {
		t.Errorf("after gpg --import: %v %v", ks, err)
	}
	gpgRun(t, b.Home(), nil, "--yes", "--delete-keys", pgptest.CarolFpr)
	if ks, err := b.Lookup(ctx, carol); err != nil || len(ks) != 0 {
		t.Errorf("after gpg --delete-keys: %v %v", ks, err)
	}
}

// Without gpg-agent, the error says so, and what to do.
func TestNoAgent(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	if _, err := b.Import(ctx, pgptest.VectorFile(t, "alice.secret.asc")); err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Recipients: []pgp.Fingerprint{mustFpr(t, pgptest.AliceFpr)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("gpgconf", "--homedir", b.Home(), "--kill", "gpg-agent").Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Home(), "gpg.conf"), []byte("agent-program /nonexistent/gpg-agent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nb, err := gnupg.New(gnupg.Options{Home: b.Home()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = nb.Open(ctx, ct)
	var ge *gnupg.Error
	if !errors.Is(err, gnupg.ErrNoAgent) || !errors.As(err, &ge) || ge.Hint() == "" {
		t.Fatalf("open without an agent: %v", err)
	}
	t.Log(err, "/", ge.Hint())
	if _, err := nb.SecretKeys(ctx); !errors.Is(err, gnupg.ErrNoAgent) {
		t.Errorf("secret keys without an agent: %v", err)
	}
}

// With a clock in the past, gpg runs at that time too: a key made then
// with a day's lifetime has expired now.
func TestClock(t *testing.T) {
	ctx := context.Background()
	past := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	then := newBackend(t, gnupg.Options{Now: func() time.Time { return past }})
	k, err := then.Generate(ctx, mustJID(t, "old@example.org"), pgp.GenerateOptions{Expiry: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Created.Equal(past) || k.Usable(past) != nil {
		t.Fatalf("made %v, usable then: %v", k.Created, k.Usable(past))
	}
	now := newBackend(t, gnupg.Options{})
	me, err := now.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := mustJID(t, "old@example.org")
	pub, err := then.ExportPublic(ctx, k.Fingerprint, &j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := now.Import(ctx, pub); err != nil {
		t.Fatal(err)
	}
	_, err = now.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonExpired {
		t.Errorf("encrypting to a key expired by now: %v", err)
	}
}

// A key without the xmpp: user ID cannot be published; the error says how
// to add it.
func TestMissingXMPPUserID(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, gnupg.Options{})
	gpgRun(t, b.Home(), nil, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", "Gpg User <user@example.org>", "ed25519", "cert,sign", "never")
	fpr := mustFpr(t, field(gpgRun(t, b.Home(), nil, "--list-keys"), "fpr", 10))
	j := mustJID(t, "user@example.org")
	_, err := b.ExportPublic(ctx, fpr, &j)
	var ge *gnupg.Error
	if !errors.Is(err, pgp.ErrUnsupportedKey) || !errors.As(err, &ge) || !strings.Contains(ge.Hint(), "gpg --quick-add-uid "+fpr.String()+" xmpp:user@example.org") {
		t.Fatalf("%v", err)
	}
	t.Log(err, "/", ge.Hint())
	gpgRun(t, b.Home(), nil, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-add-uid", fpr.String(), "xmpp:user@example.org")
	if _, err := b.ExportPublic(ctx, fpr, &j); err != nil {
		t.Errorf("after --quick-add-uid: %v", err)
	}
	if ks, err := b.Lookup(ctx, j); err != nil || len(ks) != 1 || len(ks[0].UserIDs) != 2 {
		t.Errorf("lookup: %+v %v", ks, err)
	}
}

func mustFpr(t testing.TB, s string) pgp.Fingerprint {
	t.Helper()
	f, err := pgp.ParseFingerprint(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
