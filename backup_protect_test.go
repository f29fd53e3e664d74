package ox_test

import (
	"context"
	"path/filepath"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// A key protected by a passphrase is backed up unlocked, as XEP-0373 §5.4
// wants (S2K usage 0 inside; the code protects it), and restores.
func TestBackupOfProtectedKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := native.New(st, native.WithPassphrase(func(context.Context, pgp.Fingerprint) ([]byte, error) { return []byte("pw"), nil }))
	k, err := src.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	data, code, err := ox.ExportBackup(ctx, src, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ox.OpenBackup(data, code)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := b.Import(ctx, nativeBackend(ctx, t))
	if err != nil || len(ks) != 1 || ks[0].Fingerprint != k.Fingerprint || ks[0].Protected {
		t.Fatalf("Import = %+v, %v; want %s unprotected", ks, err, k.Fingerprint)
	}
}
