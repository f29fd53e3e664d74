package ox_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

func nativeBackend(ctx context.Context, t *testing.T) pgp.Backend {
	t.Helper()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return native.New(st)
}

// A backup kept as a file: made with a new code, opened only with it,
// described without storing, imported into another store.
func TestBackupFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	alice := jid.MustParse("alice@example.org")
	src := nativeBackend(ctx, t)
	k, err := src.Generate(ctx, alice, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	data, code, err := ox.ExportBackup(ctx, src, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.ParseCode(code.String()); err != nil {
		t.Fatalf("the code %q is not a backup code: %v", code, err)
	}
	other, err := backup.NewCode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ox.OpenBackup(data, other); !errors.Is(err, backup.ErrWrongCode) {
		t.Fatalf("opened with another code: %v, want ErrWrongCode", err)
	}
	b, err := ox.OpenBackup(data, code)
	if err != nil {
		t.Fatal(err)
	}
	dst := nativeBackend(ctx, t)
	ks, err := b.Describe(ctx, nil)
	if err != nil || len(ks) != 1 || ks[0].Fingerprint != k.Fingerprint || !ks[0].Secret {
		t.Fatalf("Describe = %+v, %v; want the secret key %s", ks, err, k.Fingerprint)
	}
	if own, err := dst.SecretKeys(ctx); err != nil || len(own) != 0 {
		t.Fatalf("after Describe the store holds %d secret keys (%v), want none", len(own), err)
	}
	if ks, err = b.Import(ctx, dst); err != nil || len(ks) != 1 || ks[0].Fingerprint != k.Fingerprint {
		t.Fatalf("Import = %+v, %v", ks, err)
	}
	if own, err := dst.SecretKeys(ctx); err != nil || len(own) != 1 || own[0].Fingerprint != k.Fingerprint {
		t.Fatalf("after Import the store holds %+v (%v), want %s", own, err, k.Fingerprint)
	}
}
