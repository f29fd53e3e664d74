package gnupg_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
)

// benchRing is a GnuPG home with alice's and bob's keys and filler
// certificates, built once per process and size.
type benchRing struct {
	b      *gnupg.Backend
	af, bf pgp.Fingerprint
}

var (
	benchMu    sync.Mutex
	benchRings = map[int]*benchRing{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, r := range benchRings {
		killAgent(r.b.Home())
	}
	os.Exit(code)
}

// keyring returns a home with n keys: alice and bob (secret) and n-2
// contacts' certificates, made with go-crypto and imported with one gpg run.
func keyring(b *testing.B, n int) *benchRing {
	b.Helper()
	requireGPG(b)
	benchMu.Lock()
	defer benchMu.Unlock()
	if r, ok := benchRings[n]; ok {
		return r
	}
	ctx := context.Background()
	home, err := os.MkdirTemp("", "oxgpg")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		b.Fatal(err)
	}
	be, err := gnupg.New(gnupg.Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	r := &benchRing{b: be}
	benchRings[n] = r
	ak, err := be.Generate(ctx, mustJID(b, "alice@example.org"), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		b.Fatal(err)
	}
	bk, err := be.Generate(ctx, mustJID(b, "bob@example.org"), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		b.Fatal(err)
	}
	r.af, r.bf = ak.Fingerprint, bk.Fingerprint
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	var filler bytes.Buffer
	for i := 0; i < n-2; i++ {
		e, err := openpgp.NewEntity(fmt.Sprintf("xmpp:contact%d@example.org", i), "", "", cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Serialize(&filler); err != nil {
			b.Fatal(err)
		}
	}
	if filler.Len() > 0 {
		if ks, err := be.Import(ctx, filler.Bytes()); err != nil || len(ks) != n-2 {
			b.Fatalf("importing %d certificates: %d, %v", n-2, len(ks), err)
		}
	}
	return r
}

var benchMsg = bytes.Repeat([]byte("<signcrypt xmlns='urn:xmpp:openpgp:0'>hello</signcrypt>"), 4)

// BenchmarkSeal and BenchmarkOpen compare a keyring of 10 keys with one of
// 1,000: the backend lists no keyring per message, and gpg looks keys up
// by fingerprint and key ID, so the two should cost about the same.
func BenchmarkSeal(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := keyring(b, n)
			ctx := context.Background()
			opts := pgp.SealOptions{Signer: r.af, Recipients: []pgp.Fingerprint{r.bf, r.af}}
			if _, err := r.b.Seal(ctx, benchMsg, opts); err != nil { // warm the cache
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.b.Seal(ctx, benchMsg, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := keyring(b, n)
			ctx := context.Background()
			ct, err := r.b.Seal(ctx, benchMsg, pgp.SealOptions{Signer: r.af, Recipients: []pgp.Fingerprint{r.bf, r.af}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.b.Open(ctx, ct); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o, err := r.b.Open(ctx, ct)
				if err != nil || o.SignatureErr != nil {
					b.Fatal(err, o.SignatureErr)
				}
			}
		})
	}
}

// BenchmarkLookup is a contact's keys by JID, from the cache.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := keyring(b, n)
			ctx := context.Background()
			j := mustJID(b, "bob@example.org")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if ks, err := r.b.Lookup(ctx, j); err != nil || len(ks) != 1 {
					b.Fatal(err)
				}
			}
		})
	}
}
