package ox_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// gnupgHome makes a throw-away GnuPG home (short path: gpg-agent's socket
// lives in it) and a gpg runner on it.
func gnupgHome(t *testing.T) (string, func(args ...string) string) {
	t.Helper()
	gpgtest.Require(t)
	home := gpgtest.Home(t)
	return home, func(args ...string) string {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// An account whose keys live in GnuPG follows the user's GnuPG trust
// model: a key gpg does not deem valid is not encrypted to until the user
// certifies it in GnuPG or verifies it in ox; what arrives carries gpg's
// validity of its signer. Its own key must carry its xmpp: user ID, and a
// contact's key in the keyring that the contact does not announce is
// reported, not used.
func TestIntegrationGnuPGTrust(t *testing.T) {
	onEachServer(t, testIntegrationGnuPGTrust, "alice", "bob", "carol")
}

func testIntegrationGnuPGTrust(t *testing.T, srv *testenv.Server) {
	home, gpg := gnupgHome(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()

	alice, g, aliceIn := gnupgDevice(ctx, t, srv, "alice", home)
	bob, bobIn := listening(ctx, t, srv, "bob")
	bobKey := bob.key.Fingerprint.String()

	// The user's GnuPG key, made for e-mail: not used silently.
	gpg("--quick-generate-key", "Alice <alice@example.org>", "future-default", "default", "1y")
	ks, err := g.SecretKeys(ctx)
	if err != nil || len(ks) != 1 {
		t.Fatalf("%+v %v", ks, err)
	}
	mine := ks[0].Fingerprint
	_, err = alice.Send(ctx, bob.jid, "not yet")
	var nu *ox.NoUserIDError
	if !errors.As(err, &nu) || !errors.Is(err, pgp.ErrNoSecretKey) || !slices.Equal(nu.Keys, []pgp.Fingerprint{mine}) || !strings.Contains(err.Error(), "your secret key "+mine.String()+" lacks it") {
		t.Fatalf("send without the xmpp: user ID: %v", err)
	}
	t.Log(err)
	if err := g.AddUserID(ctx, mine, pgp.UserID(alice.JID())); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Publish(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := alice.Online(ctx); err != nil {
		t.Fatal(err)
	}

	// bob's key, fetched into the keyring, is of unknown validity under
	// the default trust model (pgp): not encrypted to, and the error says
	// how to decide. Nothing is recorded: the state follows the keyring.
	_, err = alice.Send(ctx, bob.jid, "unknown validity")
	var nk *ox.NoUsableKeyError
	if !errors.As(err, &nk) || !slices.Equal(nk.Undecided, []pgp.Fingerprint{bob.key.Fingerprint}) ||
		!slices.Equal(nk.NotValidInGnuPG, []pgp.Fingerprint{bob.key.Fingerprint}) ||
		!strings.Contains(err.Error(), "key "+bobKey+" is not valid in your GnuPG (validity unknown)") {
		t.Fatalf("send to a key of unknown validity: %v", err)
	}
	t.Log(err)
	if k, err := g.Key(ctx, bob.key.Fingerprint); err != nil || k.Validity != pgp.ValidityUnknown {
		t.Fatalf("bob's key in GnuPG: %+v %v", k, err)
	}
	if _, err := alice.Store.Trust(ctx, "bob@localhost", bobKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a state from GnuPG was recorded: %v", err)
	}
	wantState := func(what string, want trust.State) {
		t.Helper()
		if st, err := alice.TrustState(ctx, bob.jid, bob.key.Fingerprint); err != nil || st != want {
			t.Errorf("%s: trust %v %v, want %v", what, st, err, want)
		}
	}
	wantState("unknown validity", trust.Undecided)

	// 'ox trust verify' overrides GnuPG; 'ox trust undecide' gives the
	// decision back to it.
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Verified, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	wantState("verified in ox", trust.Verified)
	if _, err := alice.Send(ctx, bob.jid, "verified in ox"); err != nil {
		t.Fatal(err)
	}
	if m := bobIn.next(t, "verified in ox"); m.Err != nil || m.Body != "verified in ox" {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Undecided, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	wantState("undecided again", trust.Undecided)
	if _, err := alice.Send(ctx, bob.jid, "x"); !errors.As(err, &nk) {
		t.Fatalf("send after undecide: %v", err)
	}

	// Certified with the own, ultimately trusted key: fully valid, used.
	gpg("--quick-lsign-key", bobKey)
	wantState("lsigned", trust.Verified)
	rep, err := alice.Send(ctx, bob.jid, "full validity")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Recipients, []pgp.Fingerprint{bob.key.Fingerprint}) || len(rep.Undecided) != 0 || len(rep.Unannounced) != 0 {
		t.Errorf("report: %+v", rep)
	}
	if m := bobIn.next(t, "full validity"); m.Err != nil || m.Body != "full validity" || m.Validity != "" {
		t.Fatalf("bob (native) got %+v (err %v)", m, m.Err)
	}
	// What bob signs arrives with gpg's validity of his key.
	if _, err := bob.Send(ctx, alice.JID(), "from bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-aliceIn:
		if m.Err != nil || m.Body != "from bob" || m.Validity != pgp.ValidityFull || m.Trust != trust.Verified {
			t.Fatalf("alice got %+v (err %v)", m, m.Err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alice got nothing from bob")
	}
	// The user's rejection in ox overrides GnuPG's validity.
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Rejected, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, bob.jid, "x"); !errors.As(err, &nk) || !strings.Contains(err.Error(), "rejected by you") {
		t.Fatalf("send to a rejected, fully valid key: %v", err)
	}
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Undecided, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}

	// A key of bob's in the keyring that bob does not announce: reported,
	// not encrypted to.
	other, err := bob.Backend.Generate(ctx, bob.jid, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bob.Backend.ExportPublic(ctx, other.Fingerprint, &bob.jid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Import(ctx, pub); err != nil {
		t.Fatal(err)
	}
	gpg("--quick-lsign-key", other.Fingerprint.String())
	rep, err = alice.Send(ctx, bob.jid, "announced only")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Recipients, []pgp.Fingerprint{bob.key.Fingerprint}) || !slices.Equal(rep.Unannounced, []pgp.Fingerprint{other.Fingerprint}) {
		t.Errorf("report with an unannounced key: %+v", rep)
	}
	if m := bobIn.next(t, "announced only"); m.Err != nil || m.Body != "announced only" {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}

	// The trust model "always" in gpg.conf: every key is valid.
	carol, _ := listening(ctx, t, srv, "carol")
	if _, err := alice.Send(ctx, carol.jid, "x"); !errors.As(err, &nk) {
		t.Fatalf("send to carol under pgp: %v", err)
	}
	if err := os.WriteFile(filepath.Join(home, "gpg.conf"), []byte("trust-model always\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, carol.jid, "always"); err != nil {
		t.Fatalf("send to carol under always: %v", err)
	}
	if st, err := alice.TrustState(ctx, carol.jid, carol.key.Fingerprint); err != nil || st != trust.Verified {
		t.Errorf("carol under always: %v %v", st, err)
	}
}
