package ox_test

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
)

// A stream the server closes under a request ends the request at once with
// ErrConnectionLost, not at the deadline (Prosody closes the stream of a
// client that sends a stanza over its size limit).
func TestIntegrationStreamClosedFailsRequests(t *testing.T) {
	srv := startServer(t, "alice", "bob")
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
