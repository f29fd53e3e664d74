package pgptest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"codeberg.org/ox/ox/pgp"
)

// RunLifecycle runs the key-life part of the suite (pgp.KeyLifecycle:
// revoke, revocation certificates, renew) within one kind of backend.
func RunLifecycle(t *testing.T, newBackend Factory) {
	runLifecycle(t, newBackend, newBackend)
}

// RunLifecycleInterop checks that each of two backends reads the
// revocations, certificates and renewals the other makes.
func RunLifecycleInterop(t *testing.T, newA, newB Factory) {
	t.Run("first-to-second", func(t *testing.T) { runLifecycle(t, newA, newB) })
	t.Run("second-to-first", func(t *testing.T) { runLifecycle(t, newB, newA) })
}

// runLifecycle: alice's key lives in a backend newA makes, bob (newB) is
// the contact who sees what becomes of it.
func runLifecycle(t *testing.T, newA, newB Factory) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Factory, Factory)
	}{
		{"Revoke", revokeEachReason},
		{"RevocationCertificate", revocationCertificate},
		{"CertificateRefuses", certificateRefuses},
		{"Renew", renew},
		{"RenewRefuses", renewRefuses},
		{"SignedBeforeRevocation", signedBeforeRevocation},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, newA, newB)
		})
	}
}

func lifecycle(t *testing.T, b pgp.Backend) pgp.KeyLifecycle {
	t.Helper()
	l, ok := b.(pgp.KeyLifecycle)
	if !ok {
		t.Fatalf("%T does not implement pgp.KeyLifecycle", b)
	}
	return l
}

// near reports whether got is within a minute of want.
func near(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -time.Minute && d < time.Minute
}

// revokeEachReason: alice revokes her key with each reason; her backend and
// bob's, after importing her minimal export over the copy he had, both see
// the reason, the text and the time; nobody encrypts to the key any more,
// and alice no longer signs with it.
func revokeEachReason(t *testing.T, newA, newB Factory) {
	for _, reason := range []pgp.RevocationReason{pgp.RevocationCompromised, pgp.RevocationSuperseded, pgp.RevocationRetired, pgp.RevocationNoReason} {
		t.Run(reason.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			alice, bob, af, bf := pair(t, newA, newB)
			text := "revoked for the test: " + reason.String()
			ki, err := lifecycle(t, alice).Revoke(ctx, af, pgp.RevokeOptions{Reason: reason, Text: text})
			if err != nil {
				t.Fatalf("revoke: %v", err)
			}
			now := time.Now()
			check := func(who string, k pgp.KeyInfo) {
				t.Helper()
				if !k.Revoked || k.RevocationReason != reason || k.RevocationText != text || !near(k.RevokedAt, now) {
					t.Errorf("%s: revoked=%v reason=%v text=%q at %v; want %v %q now", who, k.Revoked, k.RevocationReason, k.RevocationText, k.RevokedAt, reason, text)
				}
				if len(k.UserIDs) != 1 || len(k.Subkeys) != 1 || k.Subkeys[0].Revoked {
					t.Errorf("%s: a key revocation is not a user ID's or a subkey's: %+v", who, k)
				}
				var ue *pgp.KeyUnusableError
				if err := k.Usable(now); !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked {
					t.Errorf("%s: a revoked key is usable: %v", who, err)
				}
			}
			check("revoke", ki)
			stored, err := alice.Key(ctx, af)
			if err != nil {
				t.Fatal(err)
			}
			check("alice's store", stored)
			exchange(t, alice, bob, af, "alice@example.org")
			seen, err := bob.Key(ctx, af)
			if err != nil {
				t.Fatal(err)
			}
			check("bob's store", seen)
			_, err = bob.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: bf, Recipients: []pgp.Fingerprint{bf, af}})
			var ue *pgp.KeyUnusableError
			if !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked || ue.Fingerprint != af {
				t.Errorf("bob encrypts to alice's revoked key: %v", err)
			}
			_, err = alice.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: af, Recipients: []pgp.Fingerprint{bf}})
			if err == nil {
				t.Error("alice signs with her revoked key")
			}
			// A second revocation with a graver reason wins.
			if reason != pgp.RevocationCompromised {
				ki, err := lifecycle(t, alice).Revoke(ctx, af, pgp.RevokeOptions{Reason: pgp.RevocationCompromised})
				if err != nil {
					t.Fatalf("revoke again: %v", err)
				}
				if ki.RevocationReason != pgp.RevocationCompromised || !ki.Revoked {
					t.Errorf("after %v then compromised: reason %v", reason, ki.RevocationReason)
				}
			}
		})
	}
}

// revocationCertificate: the certificate made for alice's key revokes it
// without its secret, in bob's backend and then in a third one that has
// only her public key; making it revokes nothing.
func revocationCertificate(t *testing.T, newA, newB Factory) {
	ctx := context.Background()
	alice, bob, af, _ := pair(t, newA, newB)
	cert, err := lifecycle(t, alice).RevocationCertificate(ctx, af)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	if !bytes.Contains(cert, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Errorf("certificate is not armored:\n%s", cert)
	}
	for who, b := range map[string]pgp.Backend{"alice": alice, "bob": bob} {
		if k, err := b.Key(ctx, af); err != nil || k.Revoked {
			t.Errorf("%s: making the certificate revoked the key: %+v %v", who, k, err)
		}
	}
	check := func(who string, k pgp.KeyInfo, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: apply: %v", who, err)
		}
		if k.Fingerprint != af || !k.Revoked || k.RevocationReason != pgp.RevocationNoReason || !k.RevocationReason.Hard() {
			t.Errorf("%s: after the certificate: %+v", who, k)
		}
	}
	k, err := lifecycle(t, bob).ApplyRevocation(ctx, cert)
	check("bob", k, err)
	// A contact that has only the public key, and never had the secret.
	carol := newB(t)
	exchange(t, alice, carol, af, "alice@example.org")
	k, err = lifecycle(t, carol).ApplyRevocation(ctx, cert)
	check("carol", k, err)
	// The revoked key, as carol exports it, tells alice.
	exchange(t, carol, alice, af, "alice@example.org")
	k, err = alice.Key(ctx, af)
	check("alice", k, err)
	if !k.Secret {
		t.Error("alice lost her secret key to the import")
	}
}

// certificateRefuses: what is not a certificate, and a certificate for a
// key that is not stored, are refused with typed errors, storing nothing.
func certificateRefuses(t *testing.T, newA, newB Factory) {
	ctx := context.Background()
	alice, bob := newA(t), newB(t)
	ak := generate(t, alice, "alice@example.org")
	cert, err := lifecycle(t, alice).RevocationCertificate(ctx, ak.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lifecycle(t, bob).ApplyRevocation(ctx, cert); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("a certificate for an unknown key: %v, want ErrNotFound", err)
	}
	j := mustJID(t, "alice@example.org")
	pub, err := alice.ExportPublic(ctx, ak.Fingerprint, &j)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"garbage": []byte("not a certificate"),
		"empty":   nil,
		"a key":   armorKey(pub),
	} {
		if _, err := lifecycle(t, bob).ApplyRevocation(ctx, data); !errors.Is(err, pgp.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if ks, err := bob.List(ctx); err != nil || len(ks) != 0 {
		t.Errorf("a refused certificate stored %v %v", ks, err)
	}
	if _, err := lifecycle(t, alice).RevocationCertificate(ctx, pgp.Fingerprint{1}); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("certificate for an unknown key: %v", err)
	}
}

// renew: alice's key, made to expire in a day, is renewed for a year, then
// to never expire; bob sees each new expiry once he imports her export over
// the copy he had.
func renew(t *testing.T, newA, newB Factory) {
	ctx := context.Background()
	alice, bob := newA(t), newB(t)
	ak, err := alice.Generate(ctx, mustJID(t, "alice@example.org"), pgp.GenerateOptions{Expiry: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	af := ak.Fingerprint
	exchange(t, alice, bob, af, "alice@example.org")
	check := func(who string, k pgp.KeyInfo, want time.Time) {
		t.Helper()
		ok := k.Expires.IsZero() == want.IsZero() && (want.IsZero() || near(k.Expires, want))
		for _, s := range k.Subkeys {
			ok = ok && s.Expires.IsZero() == want.IsZero() && (want.IsZero() || near(s.Expires, want))
		}
		if !ok || k.Revoked || len(k.UserIDs) != 1 || len(k.Subkeys) != 1 {
			t.Errorf("%s: expires %v (subkeys %+v), want %v", who, k.Expires, k.Subkeys, want)
		}
	}
	check("generated", ak, time.Now().Add(24*time.Hour))
	for _, c := range []struct {
		expiry time.Duration
		want   time.Time
	}{
		{365 * 24 * time.Hour, time.Now().Add(365 * 24 * time.Hour)},
		{0, time.Time{}},
		{48 * time.Hour, time.Now().Add(48 * time.Hour)},
	} {
		k, err := lifecycle(t, alice).Renew(ctx, af, c.expiry)
		if err != nil {
			t.Fatalf("renew %v: %v", c.expiry, err)
		}
		check("renewed", k, c.want)
		exchange(t, alice, bob, af, "alice@example.org")
		seen, err := bob.Key(ctx, af)
		if err != nil {
			t.Fatal(err)
		}
		check("bob", seen, c.want)
		if !k.Secret {
			t.Error("the renewed key lost its secret")
		}
	}
	// The renewed key still works both ways.
	bk := generate(t, bob, "bob@example.org")
	exchange(t, bob, alice, bk.Fingerprint, "bob@example.org")
	msg := []byte("after the renewal")
	openGood(t, bob, seal(t, alice, msg, af, bk.Fingerprint, af), msg, af, true)
}

// renewRefuses: a contact's key, an unknown key and a revoked key are not
// renewed.
func renewRefuses(t *testing.T, newA, newB Factory) {
	ctx := context.Background()
	alice, bob, af, _ := pair(t, newA, newB)
	if _, err := lifecycle(t, bob).Renew(ctx, af, time.Hour); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("renewing a contact's key: %v, want ErrNoSecretKey", err)
	}
	if _, err := lifecycle(t, bob).Revoke(ctx, af, pgp.RevokeOptions{}); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("revoking a contact's key: %v, want ErrNoSecretKey", err)
	}
	if _, err := lifecycle(t, alice).Renew(ctx, pgp.Fingerprint{1}, time.Hour); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("renewing an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := lifecycle(t, alice).Renew(ctx, af, -time.Hour); err == nil {
		t.Error("a negative expiry was taken")
	}
	if _, err := lifecycle(t, alice).Revoke(ctx, af, pgp.RevokeOptions{Reason: pgp.RevocationRetired}); err != nil {
		t.Fatal(err)
	}
	var ue *pgp.KeyUnusableError
	if _, err := lifecycle(t, alice).Renew(ctx, af, time.Hour); !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked {
		t.Errorf("renewing a revoked key: %v", err)
	}
}

// revokedFor returns the public key revoked for reason at at.
func (f *fixture) revokedFor(t testing.TB, reason pgp.RevocationReason, at time.Time) []byte {
	t.Helper()
	c := *f.e
	cfg := *f.cfg
	cfg.Time = func() time.Time { return at }
	if err := c.Revoke(packet.ReasonForRevocation(reason), "", &cfg); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// signedBeforeRevocation: a signature made before a soft revocation
// (superseded, retired) is good; one made after it, or by a key revoked
// hard (compromised, no reason) at any time, is a SignatureError. Either
// way Opened.Signer carries the revocation, for the receiver checks.
func signedBeforeRevocation(t *testing.T, _, newB Factory) {
	ctx := context.Background()
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	revokedAt := created.Add(30 * time.Minute)
	for _, reason := range []pgp.RevocationReason{pgp.RevocationSuperseded, pgp.RevocationRetired, pgp.RevocationCompromised, pgp.RevocationNoReason} {
		f := newFixture(t, "xmpp:rev@example.org", created, 0)
		before := f.sign(t, []byte("before"), created.Add(time.Minute))
		after := f.sign(t, []byte("after"), revokedAt.Add(time.Minute))
		b := newB(t)
		importData(t, b, f.revokedFor(t, reason, revokedAt))
		for _, m := range []struct {
			name string
			msg  []byte
			good bool
		}{
			{"before", before, !reason.Hard()},
			{"after", after, false},
		} {
			o, err := b.Open(ctx, m.msg)
			if err != nil {
				t.Fatalf("%v %s: %v", reason, m.name, err)
			}
			if o.Signer == nil || !o.Signer.Revoked || o.Signer.RevocationReason != reason || !o.Signer.RevokedAt.Equal(revokedAt) {
				t.Errorf("%v %s: signer %+v", reason, m.name, o.Signer)
			}
			var se *pgp.SignatureError
			if m.good && o.SignatureErr != nil || !m.good && !errors.As(o.SignatureErr, &se) {
				t.Errorf("%v, signed %s the revocation: signature error %v, want good=%v", reason, m.name, o.SignatureErr, m.good)
			}
		}
	}
}
