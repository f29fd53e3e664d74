package native_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// A user ID added to an own key is self-signed, keeps the key's expiry,
// is indexed for lookups, and GnuPG reads it as valid.
func TestAddUserID(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	b := newBackend(t)
	me := mustJID(t, "me@example.org")
	other := mustJID(t, "other@example.org")
	k, err := b.Generate(ctx, me, pgp.GenerateOptions{Expiry: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddUserID(ctx, k.Fingerprint, pgp.UserID(other)); err != nil {
		t.Fatal(err)
	}
	ks, err := b.Lookup(ctx, other)
	if err != nil || len(ks) != 1 {
		t.Fatalf("lookup: %+v %v", ks, err)
	}
	got := ks[0]
	if !slices.Equal(got.UserIDs, []string{"xmpp:me@example.org", "xmpp:other@example.org"}) || !got.Expires.Equal(k.Expires) || !got.Secret || got.Usable(now) != nil || !got.CanSign(now) {
		t.Fatalf("after AddUserID: %+v (expiry was %v)", got, k.Expires)
	}
	if err := b.AddUserID(ctx, k.Fingerprint, pgp.UserID(other)); err != nil {
		t.Errorf("again: %v", err)
	}
	// The minimal export for the new address holds it, signed.
	pub, err := b.ExportPublic(ctx, k.Fingerprint, &other)
	if err != nil {
		t.Fatal(err)
	}
	if ins, err := newBackend(t).Inspect(ctx, pub); err != nil || !slices.Equal(ins[0].UserIDs, []string{"xmpp:other@example.org"}) || !ins[0].Expires.Equal(k.Expires) {
		t.Errorf("exported: %+v %v", ins, err)
	}

	// Not on a contact's certificate, nor on a key that is not stored.
	carol := importFile(t, b, "carol.public.asc")[0].Fingerprint
	if err := b.AddUserID(ctx, carol, "xmpp:me@example.org"); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("on a certificate: %v", err)
	}
	if err := b.AddUserID(ctx, mustFpr(t, "73E8035BCB948EB3533F153767EE3E8BF07535FA"), "xmpp:me@example.org"); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("on a missing key: %v", err)
	}

	// GnuPG takes the new user ID as validly self-signed, with the expiry.
	gpg := gpgHome(t, requireGPG(t))
	full, err := b.ExportPublic(ctx, k.Fingerprint, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "me.pgp")
	if err := os.WriteFile(file, full, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := gpg("--with-colons", "--fixed-list-mode", "--show-keys", file)
	if err != nil {
		t.Fatalf("gpg --show-keys: %v\n%s", err, stderr)
	}
	var uids []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if f[0] == "uid" && len(f) > 9 && f[1] != "r" && f[1] != "i" {
			uids = append(uids, strings.ReplaceAll(f[9], `\x3a`, ":"))
		}
		if f[0] == "pub" && len(f) > 6 && f[6] != strconv.FormatInt(k.Expires.Unix(), 10) {
			t.Errorf("gpg sees the expiry %q, want %d", f[6], k.Expires.Unix())
		}
	}
	if !slices.Equal(uids, []string{"xmpp:me@example.org", "xmpp:other@example.org"}) {
		t.Errorf("gpg sees the user IDs %q\n%s", uids, out)
	}
}
