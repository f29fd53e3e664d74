package ox_test

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/mam"
)

// A stream the server closes under a request ends the request at once with
// ErrConnectionLost, not at the deadline (Prosody closes the stream of a
// client that sends a stanza over its size limit).
func TestIntegrationStreamClosedFailsRequests(t *testing.T) {
	onEachServer(t, testIntegrationStreamClosedFailsRequests, "alice", "bob")
}

func testIntegrationStreamClosedFailsRequests(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bob, _ := listening(ctx, t, srv, "bob")
	alice := newDeviceWith(ctx, t, srv, "alice", true, func(c *ox.Client) {
		c.RequestTimeout = 10 * testTimeout // only the stream's end may end the wait
	})
	big := xmlstream.Wrap(xmlstream.Token(xml.CharData(strings.Repeat("x", 300<<10))), xml.StartElement{Name: xml.Name{Local: "body"}})
	if err := alice.Session.Send(ctx, stanza.Message{To: bob.jid, Type: stanza.ChatMessage}.Wrap(big)); err != nil {
		t.Logf("the oversized stanza: %v", err)
	}
	_, err := alice.Fetch(ctx, bob.jid)
	if !errors.Is(err, ox.ErrConnectionLost) {
		t.Fatalf("Fetch after the server closed the stream: %v, want ErrConnectionLost", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Fetch waited for the test's deadline")
	}
	_, err = alice.Send(ctx, bob.jid, "after the end")
	if !errors.Is(err, ox.ErrConnectionLost) {
		t.Fatalf("Send after the stream ended: %v, want ErrConnectionLost", err)
	}
	t.Log(err)
}

// The same signed message sent again (a replay, by anyone who saw it) is
// refused as a replay, while the server's own copies of one stanza (the
// offline store, the archive, carbons) stay one message, quietly.
func TestIntegrationReplayRefused(t *testing.T) {
	onEachServer(t, testIntegrationReplayRefused, "alice", "bob")
}

func testIntegrationReplayRefused(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	bob, _ := listening(ctx, t, srv, "bob")
	keys, err := bob.UsableKeys(ctx, alice.jid)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := bob.Seal(ctx, []jid.JID{alice.jid}, keys, element.BodyPayload("pay 10 EUR to mallory"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the same signed message, in two stanzas
		msg := stanza.Message{To: alice.jid, Type: stanza.ChatMessage, ID: ox.NewID()}.Wrap(ox.MessagePayload(sealed.OpenPGP))
		if err := bob.Session.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	first := aliceIn.next(t, "the message")
	if first.Err != nil || first.Body != "pay 10 EUR to mallory" {
		t.Fatalf("first copy: %q %v", first.Body, first.Err)
	}
	second := aliceIn.next(t, "the replay")
	var re *ox.ReplayError
	if !errors.As(second.Err, &re) || second.Body != "" || re.First != ox.OriginLive {
		t.Fatalf("second copy: %q %v, want a replay", second.Body, second.Err)
	}
	t.Log(second.Err)
	// The archive holds both; reading it back shows neither again.
	n, err := alice.Archive.CatchUpWith(ctx, mam.Options{All: true})
	if err != nil || n != 0 {
		t.Fatalf("catch-up of the archive: %d messages, %v; want none again", n, err)
	}
}
