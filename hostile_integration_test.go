package ox_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/trust"
)

// Every message stanza that carries an OX element yields exactly one
// verdict (and so one line of 'ox listen'): a message, or a rejection with
// its reason; never silence, never two. A raw client sends a burst of good
// and malformed stanzas; a good one ends it.
func TestIntegrationOneVerdictPerStanza(t *testing.T) {
	onEachServer(t, testIntegrationOneVerdictPerStanza, "alice", "bob")
}

func testIntegrationOneVerdictPerStanza(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	bob, _ := listening(ctx, t, srv, "bob")
	keys, err := bob.UsableKeys(ctx, alice.jid)
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(text string) string {
		s, err := bob.Seal(ctx, []jid.JID{alice.jid}, keys, element.BodyPayload(text))
		if err != nil {
			t.Fatal(err)
		}
		return string(element.MarshalOpenPGP(s.OpenPGP))
	}
	good, other := sealed("good"), sealed("other")
	burst := []struct {
		name, inner string
		ok          bool
	}{
		{"good", good, true},
		{"bad base64", `<openpgp xmlns="urn:xmpp:openpgp:0">!!! not base64 !!!</openpgp>`, false},
		{"not OpenPGP", `<openpgp xmlns="urn:xmpp:openpgp:0">` + base64.StdEncoding.EncodeToString([]byte("plain text")) + `</openpgp>`, false},
		{"two elements", other + good, false},
		{"nested", `<body>look</body><x xmlns="urn:example:wrap">` + other + `</x>`, false},
		{"empty", `<openpgp xmlns="urn:xmpp:openpgp:0"/>`, false},
		{"replay", good, false},
		{"end", sealed("end"), true},
	}
	for i, b := range burst {
		raw := `<message xmlns="jabber:client" to="` + alice.jid.String() + `" type="chat" id="burst-` + string(rune('a'+i)) + `">` + b.inner + `</message>`
		if err := bob.Session.Send(ctx, rawReader(raw)); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	for _, b := range burst {
		m := aliceIn.next(t, b.name)
		if (m.Err == nil) != b.ok {
			t.Errorf("%s: %q, verdict %v", b.name, m.Body, m.Err)
		}
		if m.Err != nil && m.Body != "" {
			t.Errorf("%s: a refused message shows %q", b.name, m.Body)
		}
		if b.name == "end" && m.Body != "end" {
			t.Fatalf("the burst's end is %q (%v): a verdict is missing or doubled", m.Body, m.Err)
		}
		t.Logf("%-13s -> %v", b.name, m.Err)
	}
}

// rawReader is a stanza written by hand, as tokens for Session.Send.
func rawReader(raw string) xml.TokenReader {
	return xml.NewDecoder(strings.NewReader(raw))
}

// A message that cannot be read yet (its signer's key is unknown) is shown
// once as pending, whichever copies of it arrive (the offline store and the
// archive), and once more when it is finally read.
func TestIntegrationPendingOnce(t *testing.T) {
	onEachServer(t, testIntegrationPendingOnce, "bob", "carol")
}

func testIntegrationPendingOnce(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	carol := newDevice(ctx, t, srv, "carol", true, nil) // her key is not published (yet)
	bobStore := t.TempDir()
	bob := newDeviceAt(ctx, t, srv, "bob", bobStore, true, nil, nil)
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := bob.Online(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Archive.CatchUp(ctx); err != nil { // the first run: a cursor
		t.Fatal(err)
	}
	bob.Close(t)
	if _, err := carol.Send(ctx, bob.jid, "from carol"); err != nil {
		t.Fatal(err)
	}

	in := make(inbox, 8)
	back := newDeviceAt(ctx, t, srv, "bob", bobStore, false, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } }, nil)
	if err := back.Online(ctx); err != nil { // the offline store's copy
		t.Fatal(err)
	}
	if m := in.next(t, "the pending message"); !m.Pending {
		t.Fatalf("got %+v (err %v), want it pending", m, m.Err)
	}
	if n, err := back.Archive.CatchUp(ctx); err != nil || n != 0 { // the archive's copy
		t.Fatalf("catch-up handed over %d (%v): the pending message again", n, err)
	}
	// carol publishes: the message is read, once.
	if _, err := carol.Publish(ctx, carol.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := back.Fetch(ctx, carol.jid); err != nil {
		t.Fatal(err)
	}
	ms, err := back.RetryPending(ctx, carol.jid)
	if err != nil || len(ms) != 1 || ms[0].Err != nil || ms[0].Body != "from carol" {
		t.Fatalf("retry: %+v %v", ms, err)
	}
	if ms, _ := back.RetryPending(ctx, carol.jid); len(ms) != 0 {
		t.Fatalf("read twice: %+v", ms)
	}
}

// The user's decision belongs to the contact's key: it survives the key
// leaving the contact's announcements and coming back (a hostile server
// could otherwise reset a verification to the policy's first state).
func TestIntegrationDecisionSurvivesKeyLeaving(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	bob, _ := listening(ctx, t, srv, "bob")
	if _, err := alice.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Verified, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	if err := bob.Unpublish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Fetch(ctx, bob.jid); err == nil || !errors.Is(err, ox.ErrNoKeysPublished) {
		// An empty list: nothing announced now.
		if ann, _ := alice.Announced(ctx, bob.jid); len(ann) != 0 {
			t.Fatalf("bob still announces %v", ann)
		}
	}
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	if st, err := alice.TrustState(ctx, bob.jid, bob.key.Fingerprint); err != nil || st != trust.Verified {
		t.Fatalf("after the key left and came back: %s (%v), want verified", st, err)
	}
}
