package ox

import (
	"context"
	"errors"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// shownBy is alice's Client on a fresh store, its worker started, and what
// it shows.
func shownBy(t *testing.T) (*Client, *[]*Message) {
	c, err := OpenLocal(context.Background(), LocalOptions{JID: jid.MustParse("alice@example.org"), Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := &[]*Message{}
	c.OnMessage = func(m *Message) { *got = append(*got, m) }
	c.startWorker()
	return c, got
}

// A message the pipeline could not judge (here: its job ran out of time
// before the store answered) is kept as pending and shown as kept, with
// the reason, and read again with the pending ones: before, it was dropped
// in silence, and the messages after it moved the archive's position past
// it.
func TestUnjudgedIsKeptAndShown(t *testing.T) {
	ctx := context.Background()
	c, got := shownBy(t)
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	raw := []byte(`<message xmlns="jabber:client" from="bob@example.org/x" to="alice@example.org" id="m1"><openpgp xmlns="urn:xmpp:openpgp:0">wQED</openpgp></message>`) // an OpenPGP packet, if no message
	c.processAndEmit(expired, Incoming{Raw: raw, Origin: OriginLive, StanzaID: "s1"})
	if len(*got) != 1 {
		t.Fatalf("%d messages shown, want 1 (kept)", len(*got))
	}
	m := (*got)[0]
	if !m.Pending || !errors.Is(m.Err, ErrPending) || !errors.Is(m.Err, context.DeadlineExceeded) || m.ID != "m1" || m.From.String() != "bob@example.org/x" {
		t.Fatalf("shown: pending %v, %v, id %q, from %s; want kept, with the reason", m.Pending, m.Err, m.ID, m.From)
	}
	// From time to time (listen, the daemon), with no key change.
	again, kept, err := c.RetryKept(ctx)
	if err != nil || len(again) != 1 || again[0].Pending || again[0].ID != "m1" || kept != 0 {
		t.Fatalf("read again: %v, %d kept, %v; want the message, judged, none kept", again, kept, err)
	}
	if left, kept, err := c.RetryKept(ctx); err != nil || len(left) != 0 || kept != 0 {
		t.Errorf("still kept after it was read: %v, %d, %v", left, kept, err)
	}
}

// RetryKept reads again what was kept for a reason that may have passed
// by itself, not a message whose sender's key is still unknown (nor one
// kept for the account's own locked key, which would have gpg-agent ask
// each time): offline, no fetch can bring that key.
func TestRetryKeptLeavesUnknownSenders(t *testing.T) {
	ctx := context.Background()
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	a, err := OpenLocal(ctx, LocalOptions{JID: alice, Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenLocal(ctx, LocalOptions{JID: bob, Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Backend.Generate(ctx, alice, pgp.GenerateOptions{}); err != nil {
		t.Fatal(err)
	}
	bk, err := b.Backend.Generate(ctx, bob, pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := b.Backend.ExportPublic(ctx, bk.Fingerprint, nil)
	if _, err := a.Backend.Import(ctx, pub); err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal(ctx, []jid.JID{bob}, []pgp.Fingerprint{bk.Fingerprint}, element.BodyPayload("from a stranger"))
	if err != nil {
		t.Fatal(err)
	}
	raw := `<message xmlns="jabber:client" from="alice@example.org/phone" to="bob@example.org" id="m2">` + string(element.MarshalOpenPGP(sealed.OpenPGP)) + `</message>`
	m, err := b.Process(ctx, Incoming{Raw: []byte(raw), Origin: OriginLive, StanzaID: "s2"})
	if err != nil || m == nil || !m.Pending {
		t.Fatalf("from an unknown key: %+v, %v; want kept", m, err)
	}
	if read, kept, err := b.RetryKept(ctx); err != nil || len(read) != 0 || kept != 1 {
		t.Errorf("RetryKept: %v, %d kept, %v; want nothing read, 1 kept", read, kept, err)
	}
}

// With a store that takes nothing, the message is still shown, with what
// went wrong: neither judged nor kept, it is left to the server's archive.
func TestUnjudgedWithABrokenStore(t *testing.T) {
	ctx := context.Background()
	c, got := shownBy(t)
	c.Store.Close()
	raw := []byte(`<message xmlns="jabber:client" from="bob@example.org/x" to="alice@example.org" id="m3"><openpgp xmlns="urn:xmpp:openpgp:0">wQED</openpgp></message>`)
	c.processAndEmit(ctx, Incoming{Raw: raw, Origin: OriginLive, StanzaID: "s3"})
	if len(*got) != 1 {
		t.Fatalf("%d messages shown, want 1", len(*got))
	}
	if m := (*got)[0]; m.Err == nil || m.Pending || m.ID != "m3" || m.StanzaID != "" {
		t.Errorf("shown: %v, pending %v, id %q, stanza-id %q; want the error, not kept, no stanza-id (the archive's position stays)", m.Err, m.Pending, m.ID, m.StanzaID)
	}
}
