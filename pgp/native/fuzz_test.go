package native_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
)

// FuzzOpen feeds decrypt+verify arbitrary bytes, seeded with every captured
// message (all readable by bob or alice, whose secret keys are loaded): it
// must never panic, never hang, and never return plaintext with an error.
func FuzzOpen(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "s*.message-1.xml"))
	if err != nil || len(seeds) < 8 {
		f.Fatalf("the seed corpus is missing: %d vector messages found (%v)", len(seeds), err)
	}
	for _, s := range seeds {
		f.Add(vectorMessage(f, filepath.Base(s)))
	}
	b := newBackend(f, native.WithClock(func() time.Time { return vectorTime }))
	for _, k := range []string{"alice.secret.asc", "bob.secret.asc", "carol.public.asc"} {
		importFile(f, b, k)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, msg []byte) {
		o, err := b.Open(ctx, msg)
		if err != nil && o != nil {
			t.Fatalf("error %v with a result", err)
		}
		if err == nil && o.Signed && o.SignatureErr == nil && o.Signer == nil {
			t.Fatal("a verified signature without a signer")
		}
		if err == nil && len(o.Plaintext) > native.MaxMessageSize {
			t.Fatalf("plaintext of %d bytes passed the limit", len(o.Plaintext))
		}
	})
}

// FuzzImport feeds key import arbitrary bytes, seeded with the vector keys.
func FuzzImport(f *testing.F) {
	for _, k := range []string{"alice.public.asc", "bob.secret.asc", "carol.public.asc", "carol.secret.asc"} {
		f.Add(readFile(f, k))
	}
	b := newBackend(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := b.Import(ctx, data)
		if err != nil {
			return
		}
		for _, k := range ks {
			if _, err := b.Key(ctx, k.Fingerprint); err != nil {
				t.Fatalf("imported %s but cannot read it back: %v", k.Fingerprint, err)
			}
			if _, err := b.ExportPublic(ctx, k.Fingerprint, nil); err != nil {
				t.Fatalf("imported %s but cannot export it: %v", k.Fingerprint, err)
			}
		}
		_ = pgp.ErrMalformed
	})
}
