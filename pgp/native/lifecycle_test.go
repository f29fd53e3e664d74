package native_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/pgp/pgptest"
)

// The native backend revokes, certifies revocations and renews as every
// backend does.
func TestLifecycle(t *testing.T) {
	pgptest.RunLifecycle(t, func(t *testing.T) pgp.Backend { return newBackend(t) })
}

// A key protected by a passphrase is revoked, renewed and gets its
// certificate once unlocked, and stays protected; without the passphrase
// each says so and changes nothing.
func TestLifecycleProtected(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var asked atomic.Int32
	b := native.New(st, native.WithPassphrase(passphrases("correct horse", &asked)))
	k, err := b.Generate(ctx, jid.MustParse("alice@example.org"), pgp.GenerateOptions{Passphrase: []byte("correct horse"), Expiry: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	locked := native.New(st)
	var pe *pgp.PassphraseError
	if _, err := locked.Renew(ctx, k.Fingerprint, 48*time.Hour); !errors.As(err, &pe) {
		t.Errorf("renew without the passphrase: %v", err)
	}
	if _, err := locked.RevocationCertificate(ctx, k.Fingerprint); !errors.As(err, &pe) {
		t.Errorf("certificate without the passphrase: %v", err)
	}
	if _, err := locked.Revoke(ctx, k.Fingerprint, pgp.RevokeOptions{Reason: pgp.RevocationRetired}); !errors.As(err, &pe) {
		t.Errorf("revoke without the passphrase: %v", err)
	}
	if ki, _ := b.Key(ctx, k.Fingerprint); ki.Revoked || !ki.Expires.Equal(k.Expires) {
		t.Fatalf("a refused operation changed the key: %+v", ki)
	}
	r, err := b.Renew(ctx, k.Fingerprint, 48*time.Hour)
	if err != nil || !r.Protected || d(r.Expires.Sub(time.Now().Add(48*time.Hour))) > time.Minute {
		t.Errorf("renew: %+v %v", r, err)
	}
	if _, err := b.RevocationCertificate(ctx, k.Fingerprint); err != nil {
		t.Errorf("certificate: %v", err)
	}
	r, err = b.Revoke(ctx, k.Fingerprint, pgp.RevokeOptions{Reason: pgp.RevocationRetired})
	if err != nil || !r.Revoked || !r.Protected {
		t.Errorf("revoke: %+v %v", r, err)
	}
	sk, err := st.GetKey(ctx, k.Fingerprint.String())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := native.SecretProtected(sk.Secret); !ok || err != nil {
		t.Errorf("the key is stored unprotected after renew and revoke: %v", err)
	}
}

func d(x time.Duration) time.Duration {
	if x < 0 {
		return -x
	}
	return x
}
