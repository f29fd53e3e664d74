package gosendxmpp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"codeberg.org/ox/ox/internal/testenv"
)

// testTimeout bounds the whole integration test's traffic.
const testTimeout = 90 * time.Second

// timed runs f and logs how long it took.
func timed(t *testing.T, what string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
	return err
}

// TestIntegration runs every go-sendxmpp peer test against one server of
// each kind.
func TestIntegration(t *testing.T) { testenv.EachServer(t, testIntegration) }

func testIntegration(t *testing.T, server string) {
	Require(t)
	var srv *testenv.Server
	timed(t, server+" start with 4 accounts", func() error {
		srv = testenv.StartT(t, server, testenv.Users("alice", "bob", "carol", "dave"))
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := New(t, srv, "alice", "alice-pass")
	bob := New(t, srv, "bob", "bob-pass")
	carol := New(t, srv, "carol", "carol-pass") // never has a key

	for _, p := range []*Peer{alice, bob} {
		if err := timed(t, p.JID+" GenerateKey", func() error { return p.GenerateKey(ctx) }); err != nil {
			t.Fatal(err)
		}
	}

	var l *Listener
	if err := timed(t, "bob Listen (until its presence is seen)", func() (err error) {
		l, err = bob.Listen(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// wait sends with send and waits for text at bob's listener.
	wait := func(t *testing.T, what, text string, send func() error) string {
		t.Helper()
		start := time.Now()
		if err := send(); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		line, err := l.Wait(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: send %v, then at the listener after %v", what,
			sent.Sub(start).Round(time.Millisecond), time.Since(sent).Round(time.Microsecond))
		return line
	}
	stamp := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`

	t.Run("OXMessageReachesListener", func(t *testing.T) {
		text := "hello bob <&> from alice " + randHex()
		line := wait(t, "alice Send --ox", text, func() error { return alice.Send(ctx, bob.JID, text) })
		want := regexp.MustCompile("^" + stamp + ` \[OX\] ` + regexp.QuoteMeta(alice.JID+": "+text) + "$")
		if !want.MatchString(line) {
			t.Errorf("listener line %q, want match for %v", line, want)
		}
	})

	t.Run("PlainMessageReachesListener", func(t *testing.T) {
		text := "plain hello " + randHex()
		line := wait(t, "alice SendPlain", text, func() error { return alice.SendPlain(ctx, bob.JID, text) })
		want := regexp.MustCompile("^" + stamp + " " + regexp.QuoteMeta(alice.JID+": "+text) + "$")
		if !want.MatchString(line) {
			t.Errorf("listener line %q, want match for %v", line, want)
		}
	})

	t.Run("SendToAccountWithoutKeyFails", func(t *testing.T) {
		// go-sendxmpp itself exits 0 here.
		var err error
		timed(t, "alice Send to an account without key", func() error {
			err = alice.Send(ctx, carol.JID, "lost")
			return nil
		})
		if !errors.Is(err, ErrNoRecipientKey) {
			t.Fatalf("Send to %s: %v, want ErrNoRecipientKey", carol.JID, err)
		}
		var re *RunError
		if !errors.As(err, &re) || re.Err != nil {
			t.Fatalf("want a RunError with exit status 0, got %#v", err)
		}
		want := "ox: error fetching key for carol@localhost: Error while requesting public openpgp keys for carol@localhost\n"
		if re.Output != want {
			t.Errorf("go-sendxmpp printed %q, want %q", re.Output, want)
		}
	})

	t.Run("SendWithoutOwnKeyFails", func(t *testing.T) {
		err := carol.Send(ctx, bob.JID, "unsigned")
		var re *RunError
		if !errors.As(err, &re) || re.Err == nil || !strings.Contains(re.Output, "oxprivkeys") {
			t.Fatalf("Send without a key: %v, want a non-zero exit about the missing key", err)
		}
	})

	t.Run("EmptyMessageRefused", func(t *testing.T) {
		if err := alice.Send(ctx, bob.JID, "\n"); err == nil {
			t.Fatal("empty message accepted")
		}
	})

	var aliceKey []byte
	t.Run("PrivateKey", func(t *testing.T) {
		var err error
		aliceKey, err = alice.PrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		ents, err := openpgp.ReadKeyRing(bytes.NewReader(aliceKey))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].PrivateKey == nil || ents[0].PrivateKey.Encrypted {
			t.Fatalf("want one unprotected secret key, got %d entities", len(ents))
		}
		if _, ok := ents[0].Identities["xmpp:"+alice.JID]; !ok {
			t.Errorf("no user ID xmpp:%s in %v", alice.JID, ents[0].Identities)
		}
	})

	t.Run("ImportKey", func(t *testing.T) {
		if aliceKey == nil {
			t.Fatal("no key from PrivateKey: that step failed above")
		}
		file := filepath.Join(t.TempDir(), "alice.key")
		if err := os.WriteFile(file, aliceKey, 0o600); err != nil {
			t.Fatal(err)
		}
		alice2 := New(t, srv, "alice", "alice-pass") // a second device, fresh HOME
		if err := timed(t, "alice (2nd home) ImportKey", func() error { return alice2.ImportKey(ctx, file) }); err != nil {
			t.Fatal(err)
		}
		got, err := alice2.PrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, aliceKey) {
			t.Error("imported key differs from the original")
		}
		// Bob verifies the signature with the key in alice's PEP.
		text := "from the imported key " + randHex()
		line := wait(t, "alice (2nd home) Send --ox", text, func() error { return alice2.Send(ctx, bob.JID, text) })
		if !strings.Contains(line, " [OX] "+alice.JID+": ") {
			t.Errorf("listener line %q is not an OX message from %s", line, alice.JID)
		}
	})

	t.Run("DeleteNodes", func(t *testing.T) {
		dave := New(t, srv, "dave", "dave-pass")
		if err := dave.GenerateKey(ctx); err != nil {
			t.Fatal(err)
		}
		if err := timed(t, "dave DeleteNodes", func() error { return dave.DeleteNodes(ctx) }); err != nil {
			t.Fatal(err)
		}
		if err := alice.Send(ctx, dave.JID, "gone"); !errors.Is(err, ErrNoRecipientKey) {
			t.Errorf("Send after DeleteNodes: %v, want ErrNoRecipientKey", err)
		}
		// A second run finds nothing to delete. Against Prosody go-sendxmpp
		// fails to parse the empty disco#items result; against ejabberd it
		// exits 0 having deleted nothing.
		err := dave.DeleteNodes(ctx)
		if srv.Is(testenv.Ejabberd) {
			if err != nil {
				t.Errorf("second DeleteNodes on ejabberd: %v, want nil", err)
			}
		} else if !errors.Is(err, ErrNoNodes) {
			t.Errorf("second DeleteNodes: %v, want ErrNoNodes", err)
		}
	})

	// Nothing but message lines: the watcher's presence, its going away and
	// the failed sends left no trace in the listener's output.
	t.Logf("listener output:\n%s", l.Output())
	line := regexp.MustCompile("^" + stamp + " ")
	for _, s := range strings.Split(strings.TrimSuffix(l.Output(), "\n"), "\n") {
		if !line.MatchString(s) {
			t.Errorf("unexpected listener output line %q", s)
		}
	}
	if err := timed(t, "bob listener Stop", l.Stop); err != nil {
		t.Error(err)
	}
	select {
	case <-l.done:
		t.Logf("listener ended with %v", l.err)
	default:
		t.Error("listener still running after Stop")
	}
}
