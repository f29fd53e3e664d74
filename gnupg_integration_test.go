package ox_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/store"
)

// An account whose keys live in GnuPG publishes only its xmpp: user ID and
// exchanges messages both ways with an account on the embedded backend,
// over a real server.
func TestIntegrationGnuPGBackendOverXMPP(t *testing.T) {
	onEachServer(t, testIntegrationGnuPGBackendOverXMPP, "alice", "bob")
}

func testIntegrationGnuPGBackendOverXMPP(t *testing.T, srv *testenv.Server) {
	gpgtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()

	home := gpgtest.Home(t)
	alice, g, aliceIn := gnupgDevice(ctx, t, srv, "alice", home)

	// The user's key has an e-mail user ID too; only xmpp: is published.
	k, err := g.Generate(ctx, alice.JID(), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--quick-add-uid", k.Fingerprint.String(), "Alice <alice@example.org>").CombinedOutput(); err != nil {
		t.Fatalf("gpg --quick-add-uid: %v\n%s", err, out)
	}
	if _, err := alice.Publish(ctx, k.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := alice.Online(ctx); err != nil {
		t.Fatal(err)
	}
	bob, bobIn := listening(ctx, t, srv, "bob")
	items, err := pep.Items(ctx, bob.Session, alice.JID(), element.DataNode(k.Fingerprint.String()), 1)
	if err != nil || len(items) != 1 {
		t.Fatalf("alice's data node: %v", err)
	}
	pk, err := element.ParsePubKey(items[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := bob.Backend.Inspect(ctx, pk.Data)
	if err != nil || len(ks) != 1 || !slices.Equal(ks[0].UserIDs, []string{"xmpp:alice@localhost"}) {
		t.Fatalf("published user IDs: %+v %v", ks, err)
	}

	// bob's key is valid in alice's GnuPG once she certifies it (the
	// default trust model, pgp; see gnupg_trust_integration_test.go).
	if _, err := alice.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--quick-lsign-key", bob.key.Fingerprint.String()).CombinedOutput(); err != nil {
		t.Fatalf("gpg --quick-lsign-key: %v\n%s", err, out)
	}
	if _, err := alice.Send(ctx, bob.jid, "from GnuPG"); err != nil {
		t.Fatal(err)
	}
	if m := bobIn.next(t, "gnupg -> native"); m.Err != nil || m.Body != "from GnuPG" || m.Signer != k.Fingerprint {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}
	if _, err := bob.Send(ctx, alice.JID(), "to GnuPG"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-aliceIn:
		if m.Err != nil || m.Body != "to GnuPG" {
			t.Fatalf("alice got %+v (err %v)", m, m.Err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alice (GnuPG) got nothing")
	}
}

// gnupgDevice logs local in with its keys in the GnuPG home home (the
// store keeps the rest) and serves it; what it receives goes to the inbox.
func gnupgDevice(ctx context.Context, t *testing.T, srv *testenv.Server, local, home string) (*ox.Client, *gnupg.Backend, inbox) {
	t.Helper()
	g, err := gnupg.New(gnupg.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := srv.Dial(ctx, local, local+"-pass", "")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	c := ox.NewClient(s, g, st)
	in := make(inbox, 8)
	c.OnMessage = func(m *ox.Message) { in <- m }
	served := make(chan error, 1)
	go func() { served <- c.Serve(nil) }()
	t.Cleanup(func() {
		testenv.CloseSession(s)
		<-served
		st.Close()
	})
	return c, g, in
}
