package check_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// clockBackend is a native backend whose clock the test sets.
func clockBackend(t *testing.T, now *time.Time) *native.Backend {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return native.New(st, native.WithClock(func() time.Time { return *now }))
}

// A message signed by a revoked key: refused whenever it was signed when
// the key was revoked as compromised or without a reason; refused only
// when signed after the revocation when the key was superseded or retired.
func TestRevokedSigner(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Second).Add(-24 * time.Hour)
	alice, bob := j(t, "alice@example.org"), j(t, "bob@example.org")
	for _, c := range []struct {
		reason        pgp.RevocationReason
		beforeRefused bool
	}{
		{pgp.RevocationCompromised, true},
		{pgp.RevocationNoReason, true},
		{pgp.RevocationSuperseded, false},
		{pgp.RevocationRetired, false},
	} {
		t.Run(c.reason.String(), func(t *testing.T) {
			now := t0
			ab, bb, thief := clockBackend(t, &now), clockBackend(t, &now), clockBackend(t, &now)
			ak, err := ab.Generate(ctx, alice, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
			if err != nil {
				t.Fatal(err)
			}
			bk, err := bb.Generate(ctx, bob, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
			if err != nil {
				t.Fatal(err)
			}
			move := func(from, to *native.Backend, fpr pgp.Fingerprint, secret bool) {
				t.Helper()
				data, err := from.ExportPublic(ctx, fpr, nil)
				if secret {
					data, err = from.ExportSecret(ctx, fpr)
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := to.Import(ctx, data); err != nil {
					t.Fatal(err)
				}
			}
			move(bb, ab, bk.Fingerprint, false)
			move(ab, thief, ak.Fingerprint, true) // a copy of alice's key made before she revokes it
			move(bb, thief, bk.Fingerprint, false)
			seal := func(b *native.Backend, at time.Time) []byte {
				t.Helper()
				now = at
				content, err := element.NewContent(element.KindSigncrypt, []jid.JID{bob}, at, element.BodyPayload("hi"))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := content.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				ct, err := b.Seal(ctx, plain, pgp.SealOptions{Signer: ak.Fingerprint, Recipients: []pgp.Fingerprint{bk.Fingerprint}})
				if err != nil {
					t.Fatal(err)
				}
				return ct
			}
			before := seal(ab, t0.Add(10*time.Minute))
			now = t0.Add(time.Hour)
			if _, err := ab.Revoke(ctx, ak.Fingerprint, pgp.RevokeOptions{Reason: c.reason, Text: "test"}); err != nil {
				t.Fatal(err)
			}
			after := seal(thief, t0.Add(2*time.Hour))
			move(ab, bb, ak.Fingerprint, false)

			for _, m := range []struct {
				name    string
				ct      []byte
				at      time.Time
				refused bool
			}{
				{"signed before the revocation", before, t0.Add(10 * time.Minute), c.beforeRefused},
				{"signed after the revocation", after, t0.Add(2 * time.Hour), true},
			} {
				now = m.at
				o, err := bb.Open(ctx, m.ct)
				if err != nil {
					t.Fatalf("%s: open: %v", m.name, err)
				}
				_, err = check.Message(check.Input{Opened: o, Sender: alice, Recipient: bob, Delivered: m.at}, check.Options{})
				var re *check.RevokedSignerError
				switch {
				case m.refused && !errors.As(err, &re):
					t.Errorf("%s: %v, want a RevokedSignerError", m.name, err)
				case m.refused && (re.Reason != c.reason || re.Signer != ak.Fingerprint || !re.RevokedAt.Equal(t0.Add(time.Hour)) || re.Text != "test"):
					t.Errorf("%s: %+v", m.name, re)
				case !m.refused && err != nil:
					t.Errorf("%s: refused: %v", m.name, err)
				}
				if err != nil {
					t.Logf("%s: %v", m.name, err)
				}
			}
		})
	}
}
