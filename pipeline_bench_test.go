package ox_test

import (
	"context"
	"fmt"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// BenchmarkProcess is the whole receive pipeline as a live message takes
// it, on the Client: stanza -> parse -> open -> checks -> trust -> replay
// memory -> delivered (with a server stanza-id, so the repeat check and the
// record of it are in). Compare it with pgp/native's BenchmarkOpen/ox
// (decrypt + checks alone): the difference is what the pipeline adds.
func BenchmarkProcess(b *testing.B) {
	ctx := context.Background()
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	open := func(j jid.JID) *ox.Client {
		c, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: j, Dir: b.TempDir(), Create: true})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	a, r := open(alice), open(bob)
	defer a.Close()
	defer r.Close()
	ak, err := a.Backend.Generate(ctx, alice, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		b.Fatal(err)
	}
	bk, err := r.Backend.Generate(ctx, bob, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range []struct {
		from, to *ox.Client
		fpr      pgp.Fingerprint
	}{{a, r, ak.Fingerprint}, {r, a, bk.Fingerprint}} {
		pub, err := x.from.Backend.ExportPublic(ctx, x.fpr, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.to.Backend.Import(ctx, pub); err != nil {
			b.Fatal(err)
		}
	}
	// Distinct messages (the replay memory refuses a second copy).
	stanzas := make([][]byte, b.N)
	for i := range stanzas {
		sealed, err := a.Seal(ctx, []jid.JID{bob}, []pgp.Fingerprint{bk.Fingerprint}, element.BodyPayload(fmt.Sprintf("hello bob %d", i)))
		if err != nil {
			b.Fatal(err)
		}
		stanzas[i] = []byte(`<message xmlns="jabber:client" from="alice@example.org/phone" to="bob@example.org" type="chat" id="m` + fmt.Sprint(i) +
			`"><stanza-id xmlns="urn:xmpp:sid:0" by="bob@example.org" id="sid` + fmt.Sprint(i) + `"/>` + string(element.MarshalOpenPGP(sealed.OpenPGP)) + `</message>`)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := r.Process(ctx, ox.Incoming{Raw: stanzas[i], Origin: ox.OriginLive})
		if err != nil || m == nil || m.Err != nil {
			b.Fatalf("%+v %v", m, err)
		}
	}
}
