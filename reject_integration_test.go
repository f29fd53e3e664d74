package ox_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pgp"
)

// sendRaw sends an OX message made by hand: what a broken or hostile
// client could send.
func sendRaw(ctx context.Context, t *testing.T, from *device, to jid.JID, openpgp []byte) {
	t.Helper()
	msg := stanza.Message{To: to, Type: stanza.ChatMessage}.Wrap(xmlstream.Wrap(
		xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(openpgp))),
		xml.StartElement{Name: xml.Name{Space: element.NS, Local: "openpgp"}},
	))
	if err := from.Session.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

// seal makes a <signcrypt/> from a device's key with the given <to/>, time
// and signing clock, encrypted to the given keys.
func seal(ctx context.Context, t *testing.T, d *device, b pgp.Backend, to []jid.JID, at time.Time, body string, rcpt ...pgp.Fingerprint) []byte {
	t.Helper()
	c, err := element.NewContent(element.KindSigncrypt, to, at, element.BodyPayload(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal(ctx, plain, pgp.SealOptions{Signer: d.key.Fingerprint, Recipients: rcpt})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// Every hostile message is shown as rejected, with its reason, never as a
// message.
func TestIntegrationRejections(t *testing.T) {
	onEachServer(t, testIntegrationRejections, "alice", "bob", "carol")
}

func testIntegrationRejections(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	bob, bobIn := listening(ctx, t, srv, "bob")
	carol := srv.JIDParse(t, "carol")
	if _, err := alice.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Fetch(ctx, alice.jid); err != nil {
		t.Fatal(err)
	}
	// bob's key, as alice's store holds it.
	bk, err := alice.Backend.Lookup(ctx, bob.jid)
	if err != nil || len(bk) != 1 {
		t.Fatal(bk, err)
	}
	bobKey := bk[0].Fingerprint
	now := time.Now()

	cases := []struct {
		name   string
		msg    func() []byte
		reason string
	}{
		{"tampered", func() []byte {
			ct := seal(ctx, t, alice, alice.Backend, []jid.JID{bob.jid}, now, "tampered", bobKey)
			ct[len(ct)-5] ^= 0x01
			return ct
		}, "damaged or was tampered with"},
		{"addressed to someone else", func() []byte {
			return seal(ctx, t, alice, alice.Backend, []jid.JID{carol}, now, "for carol", bobKey)
		}, "addressed to carol@localhost, not to bob@localhost"},
		{"replayed old message", func() []byte {
			// A genuine message that reaches bob a day after it was made:
			// bob's clock says so.
			later := now.Add(24 * time.Hour)
			bob.Now = func() time.Time { return later }
			return seal(ctx, t, alice, alice.Backend, []jid.JID{bob.jid}, now, "old news", bobKey)
		}, "before the delivery time"},
		{"not signed", func() []byte {
			c, _ := element.NewContent(element.KindSigncrypt, []jid.JID{bob.jid}, now, element.BodyPayload("unsigned"))
			plain, _ := c.Marshal()
			ct, err := alice.Backend.Seal(ctx, plain, pgp.SealOptions{Recipients: []pgp.Fingerprint{bobKey}})
			if err != nil {
				t.Fatal(err)
			}
			return ct
		}, "not signed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sendRaw(ctx, t, alice, bob.jid, c.msg())
			m := bobIn.next(t, c.name)
			bob.Now = nil
			if m.Err == nil {
				t.Fatalf("shown as a message: %q", m.Body)
			}
			if m.Body != "" {
				t.Errorf("a rejected message carries a body %q", m.Body)
			}
			if !strings.Contains(m.Err.Error(), c.reason) {
				t.Errorf("reason %q does not say %q", m.Err, c.reason)
			}
		})
	}
}
