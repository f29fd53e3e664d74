package ox_test

import (
	"context"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
)

// FuzzProcess feeds the receive pipeline arbitrary stanzas: it never
// panics, and every stanza that carries an OX element yields exactly one
// verdict, never a message shown without a good signature.
func FuzzProcess(f *testing.F) {
	const el = `<openpgp xmlns="urn:xmpp:openpgp:0">bm90IGFuIE9wZW5QR1AgbWVzc2FnZQ==</openpgp>`
	for _, seed := range []string{
		`<message xmlns="jabber:client" from="mallory@example.org/x" id="a">` + el + `</message>`,
		`<message xmlns="jabber:client" from="mallory@example.org/x" id="b">` + el + el + `</message>`,
		`<message xmlns="jabber:client" from="mallory@example.org/x" id="c"><x xmlns="urn:example">` + el + `</x></message>`,
		`<message xmlns="jabber:client" from="mallory@example.org/x" id="d"><openpgp xmlns="urn:xmpp:openpgp:0">!!!</openpgp></message>`,
		`<message xmlns="jabber:client" from="mallory@example.org/x" id="e"><openpgp xmlns="urn:xmpp:openpgp:0"/></message>`,
		`<message xmlns="jabber:client" type="groupchat" from="room@muc.example.org/nick" id="f">` + el + `</message>`,
		`<message xmlns="jabber:client" from="mallory@example.org/x"><stanza-id xmlns="urn:xmpp:sid:0" by="alice@example.org" id="s1"/><delay xmlns="urn:xmpp:delay" stamp="2026-12-03T08:00:00Z"/>` + el + `</message>`,
		`<message><body>plain</body></message>`,
		`<openpgp xmlns="urn:xmpp:openpgp:0">` + "\x00" + `</openpgp>`,
	} {
		f.Add([]byte(seed))
	}
	c, err := ox.OpenLocal(context.Background(), ox.LocalOptions{JID: jid.MustParse("alice@example.org"), Dir: f.TempDir(), Create: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := c.Process(context.Background(), ox.Incoming{Raw: raw, Origin: ox.OriginLive})
		switch {
		case errors.Is(err, ox.ErrNotOX):
			return
		case err != nil:
			t.Fatalf("no verdict: %v", err)
		case m == nil:
			return // a repeat of a stanza-id seen before: quiet by design
		case m.Err == nil && m.Signer.IsZero():
			t.Fatalf("shown as a message without a signature: %+v", m)
		case m.Err != nil && m.Body != "":
			t.Fatalf("refused, but shows %q", m.Body)
		}
	})
}
