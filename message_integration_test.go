package ox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/carbons"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/gosendxmpp"
	"codeberg.org/ox/ox/internal/testenv"
)

// inbox collects what a device's Serve hands over.
type inbox chan *ox.Message

func (in inbox) next(t *testing.T, what string) *ox.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("no message: %s", what)
	}
	return nil
}

func (in inbox) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case m := <-in:
		t.Fatalf("unexpected message %+v (err %v)", m, m.Err)
	case <-time.After(within):
	}
}

// listening logs local in with a fresh store and a key, publishes it, and
// goes online with carbons; it returns the device and its inbox.
func listening(ctx context.Context, t *testing.T, srv *testenv.Server, local string) (*device, inbox) {
	t.Helper()
	in := make(inbox, 32)
	d := newDeviceWith(ctx, t, srv, local, true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } })
	if _, err := d.Publish(ctx, d.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := d.Online(ctx); err != nil {
		t.Fatal(err)
	}
	return d, in
}

func TestIntegrationMessages(t *testing.T) {
	onEachServer(t, testIntegrationMessages, "alice", "bob", "carol")
}

func testIntegrationMessages(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	bob, bobIn := listening(ctx, t, srv, "bob")

	// ox to ox, both ways; each side fetches the other's key on demand.
	if _, err := alice.Send(ctx, bob.jid, "hi bob <&>"); err != nil {
		t.Fatal(err)
	}
	m := bobIn.next(t, "alice -> bob")
	if m.Err != nil || m.Body != "hi bob <&>" || m.Signer != alice.key.Fingerprint || !m.From.Bare().Equal(alice.jid) {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}
	rep, err := bob.Send(ctx, alice.jid, "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Recipients) != 1 || len(rep.Self) != 1 {
		t.Errorf("report %+v", rep)
	}
	if m := aliceIn.next(t, "bob -> alice"); m.Err != nil || m.Body != "hi alice" {
		t.Fatalf("alice got %+v (err %v)", m, m.Err)
	}

	// Over the server's stanza limit: refused before anything is sent
	// (Prosody would close the stream and the message would be lost).
	alice.MaxStanzaSize = 2048
	var big *ox.StanzaTooLargeError
	if _, err := alice.Send(ctx, bob.jid, strings.Repeat("x", 4000)); !errors.As(err, &big) || big.Keys != 2 || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("oversized message: %v", err)
	}
	alice.MaxStanzaSize = 0
	bobIn.none(t, 300*time.Millisecond)

	// No key for carol: a clear error, and nothing sent in plaintext.
	var nk *ox.NoUsableKeyError
	if _, err := alice.Send(ctx, srv.JIDParse(t, "carol"), "secret"); !errors.As(err, &nk) || !strings.Contains(err.Error(), "no keys published") {
		t.Fatalf("send to a contact without keys: %v", err)
	}

	// A message signed by a key that bob no longer announces (a device he
	// withdrew: alice still holds its certificate) is rejected.
	t.Run("unannounced key", func(t *testing.T) {
		rogue := newDevice(ctx, t, srv, "bob", true, nil)
		if _, err := rogue.Publish(ctx, rogue.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if fr, err := alice.Fetch(ctx, bob.jid); err != nil || len(fr.Imported) != 1 {
			t.Fatalf("alice fetches bob's second key: %+v %v", fr, err)
		}
		if err := rogue.Unpublish(ctx, rogue.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Fetch(ctx, bob.jid); err != nil { // as a notification would make her
			t.Fatal(err)
		}
		if _, err := rogue.Fetch(ctx, alice.jid); err != nil {
			t.Fatal(err)
		}
		if _, err := rogue.Send(ctx, alice.jid, "from an unannounced key"); err != nil {
			t.Fatal(err)
		}
		m := aliceIn.next(t, "the rogue message")
		if m.Err == nil || !strings.Contains(m.Err.Error(), "not one that bob@localhost announces") {
			t.Fatalf("accepted or wrong reason: %+v %v", m, m.Err)
		}
	})

}

// Messages sent while the listener was down arrive once each, in order,
// with their original time, when it comes back.
func TestIntegrationOfflineExactlyOnce(t *testing.T) {
	onEachServer(t, testIntegrationOfflineExactlyOnce, "alice", "bob")
}

func testIntegrationOfflineExactlyOnce(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	// bob publishes, then goes away.
	bobStore := t.TempDir()
	bob := newDeviceAt(ctx, t, srv, "bob", bobStore, true, nil, nil)
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	bob.Close(t)
	for i := 1; i <= 3; i++ {
		if _, err := alice.Send(ctx, bob.jid, "offline "+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // so that delivery is later than sending
	for round := 0; round < 2; round++ {
		in := make(inbox, 32)
		back := newDeviceAt(ctx, t, srv, "bob", bobStore, false, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } }, nil)
		if err := back.Online(ctx); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			in.none(t, 2*time.Second) // already delivered: not again
			back.Close(t)
			continue
		}
		for i := 1; i <= 3; i++ {
			m := in.next(t, "offline message")
			if m.Err != nil || m.Body != "offline "+string(rune('0'+i)) {
				t.Fatalf("message %d: %+v (err %v)", i, m, m.Err)
			}
			if time.Since(m.Time) < time.Second {
				t.Errorf("message %d: time %v is not its original time", i, m.Time)
			}
		}
		in.none(t, time.Second)
		back.Close(t)
	}
}

// go-sendxmpp <-> ox messages.
func TestIntegrationGoSendXMPPMessages(t *testing.T) {
	onEachServer(t, testIntegrationGoSendXMPPMessages, "alice", "bob")
}

func testIntegrationGoSendXMPPMessages(t *testing.T, srv *testenv.Server) {
	gosendxmpp.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	peer := gosendxmpp.New(t, srv, "bob", "bob-pass")
	if err := peer.GenerateKey(ctx); err != nil {
		t.Fatal(err)
	}
	alice, aliceIn := listening(ctx, t, srv, "alice")
	if err := peer.Send(ctx, "alice@localhost", "from go-sendxmpp"); err != nil {
		t.Fatal(err)
	}
	if m := aliceIn.next(t, "go-sendxmpp -> ox"); m.Err != nil || m.Body != "from go-sendxmpp" {
		t.Fatalf("alice got %+v (err %v)", m, m.Err)
	}
	l, err := peer.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if _, err := alice.Send(ctx, srv.JIDParse(t, "bob"), "from ox to go-sendxmpp"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Wait(ctx, "from ox to go-sendxmpp"); err != nil {
		t.Fatalf("go-sendxmpp did not show it: %v\n%s", err, l.Output())
	}
}

// A message sent from one of the account's devices shows on the others as
// a carbon copy (XEP-0280), decrypted through the encryption to self.
func TestIntegrationCarbons(t *testing.T) { onEachServer(t, testIntegrationCarbons, "alice", "bob") }

func testIntegrationCarbons(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	desk, deskIn := listening(ctx, t, srv, "bob")
	if err := carbons.Enable(ctx, desk.Session); err != nil {
		t.Fatal(err)
	}
	phone, _ := listening(ctx, t, srv, "bob") // publishes its key too: two bob devices
	rep, err := phone.Send(ctx, alice.jid, "sent from the phone")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Self) != 2 {
		t.Errorf("the phone encrypted to %d of bob's keys, want 2 (itself and the desk)", len(rep.Self))
	}
	if m := aliceIn.next(t, "phone -> alice"); m.Err != nil || m.Body != "sent from the phone" {
		t.Fatalf("alice got %+v (err %v)", m, m.Err)
	}
	m := deskIn.next(t, "the carbon on the desk")
	if m.Err != nil || !m.Sent || m.Body != "sent from the phone" || !m.To.Bare().Equal(alice.jid) {
		t.Fatalf("desk got %+v (err %v)", m, m.Err)
	}
	// And what alice sends to bob reaches the desk once, not twice.
	if _, err := alice.Send(ctx, desk.jid, "to all of bob"); err != nil {
		t.Fatal(err)
	}
	if m := deskIn.next(t, "alice -> bob on the desk"); m.Err != nil || m.Body != "to all of bob" {
		t.Fatalf("desk got %+v (err %v)", m, m.Err)
	}
	deskIn.none(t, time.Second)
}
