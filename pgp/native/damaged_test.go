package native_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// A stored secret key damaged anywhere makes Open name the key as the
// cause (a *pgp.DamagedKeyError with its fingerprint), never blame the
// message (tampered) or say it is not for us (issue 18 item 6).
func TestDamagedSecretKeyIsNamed(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := native.New(st)
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.Seal(ctx, []byte("hi"), pgp.SealOptions{Signer: k.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := st.GetKey(ctx, k.Fingerprint.String())
	if err != nil {
		t.Fatal(err)
	}
	sk.KeyIDs = []uint64{k.Fingerprint.KeyID(), k.Subkeys[0].Fingerprint.KeyID()}
	orig := sk.Secret
	named := 0
	for i := range orig {
		d := append([]byte(nil), orig...)
		d[i] ^= 0x55
		sk.Secret = d
		if err := st.PutKey(ctx, sk); err != nil {
			t.Fatal(err)
		}
		_, err := native.New(st).Open(ctx, msg) // a new backend: nothing cached
		if err == nil {
			continue // a byte nothing reads, e.g. in an unhashed subpacket
		}
		var de *pgp.DamagedKeyError
		if !errors.As(err, &de) || de.Fingerprint != k.Fingerprint || !de.Secret {
			t.Fatalf("byte %d damaged: %v, want a *pgp.DamagedKeyError for %s", i, err, k.Fingerprint)
		}
		named++
	}
	if named < len(orig)/2 {
		t.Errorf("only %d of %d damaged bytes noticed", named, len(orig))
	}
}
