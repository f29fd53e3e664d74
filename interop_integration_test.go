package ox_test

import (
	"context"
	"slices"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/gosendxmpp"
	"codeberg.org/ox/ox/internal/testenv"
)

// go-sendxmpp, a client that knows only the spec, fetches the key ox
// published (in either layout) and encrypts to it, and ox decrypts what it
// sent; ox fetches the key go-sendxmpp published.
func TestIntegrationGoSendXMPPInterop(t *testing.T) {
	testenv.EachServer(t, testIntegrationGoSendXMPPInterop)
}

func testIntegrationGoSendXMPPInterop(t *testing.T, server string) {
	gosendxmpp.Require(t)
	for _, layout := range []ox.Layout{ox.LayoutSpec, ox.LayoutCompact} {
		t.Run(map[ox.Layout]string{ox.LayoutSpec: "spec", ox.LayoutCompact: "compact"}[layout], func(t *testing.T) {
			srv := startServerOn(t, server, "alice", "bob")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			bob := gosendxmpp.New(t, srv, "bob", "bob-pass")
			if err := bob.GenerateKey(ctx); err != nil {
				t.Fatal(err)
			}
			in := make(inbox, 32)
			alice := newDeviceWith(ctx, t, srv, "alice", true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } })
			alice.Layout = layout

			// ox fetches what go-sendxmpp published.
			fr, err := alice.Fetch(ctx, jid.MustParse(srv.JID("bob")))
			if err != nil {
				t.Fatal(err)
			}
			if len(fr.Imported) != 1 || !slices.Equal(fr.Imported[0].UserIDs, []string{"xmpp:bob@localhost"}) {
				t.Fatalf("fetched %+v, rejected %+v", fr.Imported, fr.Rejected)
			}

			// go-sendxmpp encrypts to what ox published: it fails (and says
			// so) when it cannot fetch the recipient's key.
			if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
				t.Fatal(err)
			}
			if err := alice.Online(ctx); err != nil {
				t.Fatal(err)
			}
			if err := bob.Send(ctx, srv.JID("alice"), "hello alice from go-sendxmpp"); err != nil {
				t.Fatalf("go-sendxmpp could not encrypt to ox's published key: %v", err)
			}
			m := in.next(t, "go-sendxmpp -> ox")
			if m.Err != nil || m.Body != "hello alice from go-sendxmpp" || m.Signer != fr.Imported[0].Fingerprint {
				t.Fatalf("ox got %+v (err %v), want the body signed by %v", m, m.Err, fr.Imported[0].Fingerprint)
			}
		})
	}
}
