package native_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

var benchMsg = bytes.Repeat([]byte("<signcrypt xmlns='urn:xmpp:openpgp:0'>hello</signcrypt>"), 4)

// BenchmarkSeal is ox's sign+encrypt to a contact and to self; compare it
// with BenchmarkSealBareGoCrypto, the same work with go-crypto alone.
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	alice, _, af, bf := pair(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := alice.Seal(ctx, benchMsg, pgp.SealOptions{Signer: af, Recipients: []pgp.Fingerprint{bf, af}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	alice, bob, af, bf := pair(b)
	ct, err := alice.Seal(ctx, benchMsg, pgp.SealOptions{Signer: af, Recipients: []pgp.Fingerprint{bf, af}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bob.Open(ctx, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// bareEntities makes the same two keys as pair, held by go-crypto alone.
func bareEntities(b *testing.B) (alice, bob *openpgp.Entity, cfg *packet.Config) {
	cfg = &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, DefaultCompressionAlgo: packet.CompressionNone}
	alice, err := openpgp.NewEntity("xmpp:alice@example.org", "", "", cfg)
	if err != nil {
		b.Fatal(err)
	}
	bob, err = openpgp.NewEntity("xmpp:bob@example.org", "", "", cfg)
	if err != nil {
		b.Fatal(err)
	}
	return alice, bob, cfg
}

func BenchmarkSealBareGoCrypto(b *testing.B) {
	alice, bob, cfg := bareEntities(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var out bytes.Buffer
		w, err := openpgp.Encrypt(&out, []*openpgp.Entity{bob, alice}, nil, []*openpgp.Entity{alice}, nil, cfg)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(benchMsg)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenBareGoCrypto(b *testing.B) {
	alice, bob, cfg := bareEntities(b)
	var out bytes.Buffer
	w, err := openpgp.Encrypt(&out, []*openpgp.Entity{bob, alice}, nil, []*openpgp.Entity{alice}, nil, cfg)
	if err != nil {
		b.Fatal(err)
	}
	w.Write(benchMsg)
	w.Close()
	kr := openpgp.EntityList{bob, alice}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		md, err := openpgp.ReadMessage(bytes.NewReader(out.Bytes()), kr, nil, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(md.UnverifiedBody); err != nil || md.SignatureError != nil {
			b.Fatal(err, md.SignatureError)
		}
	}
}
