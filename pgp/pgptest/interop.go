package pgptest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"codeberg.org/ox/ox/pgp"
)

// RunInterop checks that two backends (of different kinds) work together:
// each reads the keys and messages the other writes, and both describe the
// same key alike.
func RunInterop(t *testing.T, newA, newB Factory) {
	for _, c := range []struct {
		name     string
		from, to Factory
	}{
		{"first-to-second", newA, newB},
		{"second-to-first", newB, newA},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			alice, bob, af, bf := pair(t, c.from, c.to)
			runMessages(t, alice, bob, af, bf)
			runMessages(t, bob, alice, bf, af)
			// The minimal export of one is what the other describes.
			ctx := context.Background()
			j := mustJID(t, "alice@example.org")
			pub, err := alice.ExportPublic(ctx, af, &j)
			if err != nil {
				t.Fatal(err)
			}
			ins, err := bob.Inspect(ctx, pub)
			if err != nil || len(ins) != 1 {
				t.Fatalf("inspect: %v", err)
			}
			want, err := alice.Key(ctx, af)
			if err != nil {
				t.Fatal(err)
			}
			want.Secret = false
			if d := diffInfo(ins[0], want); d != "" {
				t.Errorf("the other backend describes the key otherwise: %s", d)
			}
		})
	}
	t.Run("same-key-info", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		a, b := newA(t), newB(t)
		now := time.Now()
		multi := newFixture(t, "xmpp:multi@example.org", now.Add(-time.Hour), 0)
		if err := multi.e.AddEncryptionSubkey(multi.cfg); err != nil {
			t.Fatal(err)
		}
		rev := newFixture(t, "xmpp:rev@example.org", now.Add(-time.Hour), 0)
		old := newFixture(t, "xmpp:old@example.org", now.Add(-48*time.Hour), 24*time.Hour)
		inputs := [][]byte{
			VectorFile(t, "alice.secret.asc"), VectorFile(t, "bob.public.asc"), VectorFile(t, "carol.public.asc"),
			multi.public(t), rev.revoked(t), old.secret(t),
		}
		for _, in := range inputs {
			ka, err := a.Import(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := b.Import(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(ka) != 1 || len(kb) != 1 {
				t.Fatalf("imported %d and %d keys", len(ka), len(kb))
			}
			if d := diffInfo(ka[0], kb[0]); d != "" {
				t.Errorf("%s: %s", ka[0].Fingerprint, d)
			}
		}
	})
	t.Run("passphrase-protected-key-is-refused-or-kept", func(t *testing.T) {
		// Not every backend can use a key with a passphrase; none may
		// store it in a way that loses it.
		t.Parallel()
		f := newFixture(t, "xmpp:pp@example.org", time.Now().Add(-time.Hour), 0)
		if err := f.e.EncryptPrivateKeys([]byte("passphrase"), f.cfg); err != nil {
			t.Fatal(err)
		}
		for _, nb := range []Factory{newA, newB} {
			b := nb(t)
			ks, err := b.Import(context.Background(), f.secret(t))
			if err != nil {
				if !errors.Is(err, pgp.ErrUnsupportedKey) {
					t.Errorf("import of a protected key: %v", err)
				}
				continue
			}
			if len(ks) != 1 || !ks[0].Secret {
				t.Errorf("protected key imported as %+v", ks)
			}
		}
	})
}

// armored wraps binary data in ASCII armor.
func armored(blockType string, bin []byte) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, blockType, nil)
	if err != nil {
		panic(err)
	}
	_, _ = w.Write(bin)
	_ = w.Close()
	return b.Bytes()
}

// countSignatures counts the signature packets in binary key data.
func countSignatures(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	r := packet.NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("reading packets: %v", err)
		}
		if _, ok := p.(*packet.Signature); ok {
			n++
		}
	}
}
