package ox_test

import (
	"context"
	"fmt"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
)

// A burst of 2,000 messages (the server's offline store, flushed at once
// when the device comes online) is read to the end without stalling the
// session: each once, in order, every check made.
func TestIntegrationBurst(t *testing.T) { onEachServer(t, testIntegrationBurst, "alice", "bob") }

func testIntegrationBurst(t *testing.T, srv *testenv.Server) {
	const n = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	bobStore := t.TempDir()
	bob := newDeviceAt(ctx, t, srv, "bob", bobStore, true, nil, nil)
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	bob.Close(t)

	keys, err := alice.UsableKeys(ctx, bob.jid)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		sealed, err := alice.Seal(ctx, []jid.JID{bob.jid}, keys, element.BodyPayload(fmt.Sprintf("burst %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		msg := stanza.Message{To: bob.jid, Type: stanza.ChatMessage, ID: ox.NewID()}.Wrap(ox.MessagePayload(sealed.OpenPGP))
		if err := alice.Session.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := ping.Send(ctx, alice.Session, alice.jid.Domain()); err != nil {
		t.Fatal(err)
	}

	in := make(inbox, n+16)
	back := newDeviceAt(ctx, t, srv, "bob", bobStore, false, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } }, nil)
	if err := back.Online(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := in.next(t, fmt.Sprintf("burst message %d", i))
		if m.Err != nil || m.Body != fmt.Sprintf("burst %d", i) {
			t.Fatalf("message %d: %q (err %v)", i, m.Body, m.Err)
		}
		if m.Origin != ox.OriginOffline {
			t.Errorf("message %d came as %q, want offline", i, m.Origin)
		}
	}
}
