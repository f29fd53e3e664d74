package ox

import (
	"context"
	"errors"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// A message the pipeline could not judge (here: its job ran out of time
// before the store answered) is kept as pending and shown as kept, with
// the reason, and read again with the pending ones: before, it was dropped
// in silence, and the messages after it moved the archive's position past
// it.
func TestUnjudgedIsKeptAndShown(t *testing.T) {
	ctx := context.Background()
	c, err := OpenLocal(ctx, LocalOptions{JID: jid.MustParse("alice@example.org"), Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*Message
	c.OnMessage = func(m *Message) { got = append(got, m) }
	c.startWorker()
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	raw := []byte(`<message xmlns="jabber:client" from="bob@example.org/x" to="alice@example.org" id="m1"><openpgp xmlns="urn:xmpp:openpgp:0">wQED</openpgp></message>`) // an OpenPGP packet, if no message
	c.processAndEmit(expired, Incoming{Raw: raw, Origin: OriginLive, StanzaID: "s1"})
	if len(got) != 1 {
		t.Fatalf("%d messages shown, want 1 (kept)", len(got))
	}
	m := got[0]
	if !m.Pending || !errors.Is(m.Err, ErrPending) || !errors.Is(m.Err, context.DeadlineExceeded) || m.ID != "m1" || m.From.String() != "bob@example.org/x" {
		t.Fatalf("shown: pending %v, %v, id %q, from %s; want kept, with the reason", m.Pending, m.Err, m.ID, m.From)
	}
	again, err := c.RetryPending(ctx, jid.JID{})
	if err != nil || len(again) != 1 || again[0].Pending || again[0].ID != "m1" {
		t.Fatalf("read again: %v, %v; want the message, judged", again, err)
	}
	if left, err := c.RetryPending(ctx, jid.JID{}); err != nil || len(left) != 0 {
		t.Errorf("still kept after it was read: %v, %v", left, err)
	}
}
