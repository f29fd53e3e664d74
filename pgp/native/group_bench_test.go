package native_test

// Group messages (Backend.Seal to 100 members and self) and ingesting a
// key fetched from PEP (issue 5).

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// benchStanzaLimit is Prosody's default c2s_stanza_size_limit (256 KiB).
const benchStanzaLimit = 256 << 10

// benchStanzaOverhead is what a <message/> carries besides the Base64 of the
// OpenPGP message: what ox.Client.Send writes around it.
var benchStanzaOverhead = len(`<message xmlns="jabber:client" to="room@conference.example.org" type="groupchat" id="ox-0123456789abcdef01234567">` +
	`<body>This message is encrypted with OpenPGP for XMPP (XEP-0373), which your client does not support.</body>` +
	`<openpgp xmlns="urn:xmpp:openpgp:0"></openpgp>` +
	`<encryption xmlns="urn:xmpp:eme:0" namespace="urn:xmpp:openpgp:0" name="OpenPGP for XMPP"></encryption>` +
	`<store xmlns="urn:xmpp:hints"></store></message>`)

// benchMembers gives alice n members' public keys (real Ed25519/Cv25519
// keys, each with its xmpp: user ID) and returns their fingerprints.
func benchMembers(tb testing.TB, alice *benchParty, n int) []pgp.Fingerprint {
	tb.Helper()
	ctx := context.Background()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, KeyLifetimeSecs: uint32(pgp.DefaultExpiry / time.Second)}
	out := make([]pgp.Fingerprint, 0, n)
	for i := 0; i < n; i++ {
		e, err := openpgp.NewEntity(fmt.Sprintf("xmpp:m%03d@example.org", i), "", "", cfg)
		if err != nil {
			tb.Fatal(err)
		}
		var pub bytes.Buffer
		if err := e.Serialize(&pub); err != nil {
			tb.Fatal(err)
		}
		ks, err := alice.b.Import(ctx, pub.Bytes())
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ks[0].Fingerprint)
	}
	return out
}

// BenchmarkSealGroup is a message to a group: the <signcrypt/> content
// addressed to the room, sealed to every member's key and the sender's
// own. `go run ./bench` divides the difference between members=100 and
// members=1 by 99: the cost of each added recipient.
func BenchmarkSealGroup(b *testing.B) {
	ctx := context.Background()
	room := jid.MustParse("room@conference.example.org")
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			alice := benchNewParty(b, b.TempDir(), "alice")
			members := benchMembers(b, alice, n)
			rcpt := append(append([]pgp.Fingerprint{}, members...), alice.fpr)
			wire, err := benchSeal(ctx, alice, room, rcpt, benchText)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := benchSeal(ctx, alice, room, rcpt, benchText); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(wire)), "B/element")
			if n > 1 {
				// The same plaintext sealed to 2 and to n+1 keys.
				plain := benchPlaintext(b, room)
				one, err := alice.b.Seal(ctx, plain, pgp.SealOptions{Signer: alice.fpr, Recipients: []pgp.Fingerprint{members[0], alice.fpr}})
				if err != nil {
					b.Fatal(err)
				}
				all, err := alice.b.Seal(ctx, plain, pgp.SealOptions{Signer: alice.fpr, Recipients: rcpt})
				if err != nil {
					b.Fatal(err)
				}
				oneLen, allLen := len(element.MarshalOpenPGP(one)), len(element.MarshalOpenPGP(all))
				per := float64(allLen-oneLen) / float64(n-1)
				b.ReportMetric(per, "B/recipient")
				// How many recipients fit in a stanza under the limit.
				base := float64(oneLen) - 2*per
				b.ReportMetric(float64(int((benchStanzaLimit-float64(benchStanzaOverhead)-base)/per)), "recipients/256KiB")
			}
		})
	}
}

// BenchmarkIngestPEPKey is taking in a contact's key fetched from its PEP
// data node, as ox.Client.Fetch does: parse the <pubkey/> item, inspect
// the key, check that it is the announced one and carries the contact's
// user ID, and import it. Each round ingests it as new (it is deleted from
// the store, untimed, after each round).
func BenchmarkIngestPEPKey(b *testing.B) {
	ctx := context.Background()
	bob := benchNewParty(b, b.TempDir(), "bob")
	carol := benchNewParty(b, b.TempDir(), "carol")
	pub, err := carol.b.ExportPublic(ctx, carol.fpr, &carol.jid)
	if err != nil {
		b.Fatal(err)
	}
	item := element.PubKey{Data: pub}.Marshal()
	ingest := func() error {
		pk, err := element.ParsePubKey(item)
		if err != nil {
			return err
		}
		ks, err := bob.b.Inspect(ctx, pk.Data)
		if err != nil {
			return err
		}
		if len(ks) != 1 || ks[0].Fingerprint != carol.fpr || !ks[0].HasUserID(carol.jid) {
			return fmt.Errorf("not the announced key: %+v", ks)
		}
		_, err = bob.b.Import(ctx, pk.Data)
		return err
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ingest(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := bob.st.DeleteKey(ctx, carol.fpr.String()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(item)), "B/item")
}
