package pgp_test

import (
	"testing"
	"time"

	"codeberg.org/ox/ox/pgp"
)

func TestRevocationReason(t *testing.T) {
	for _, r := range []pgp.RevocationReason{pgp.RevocationNoReason, pgp.RevocationSuperseded, pgp.RevocationCompromised, pgp.RevocationRetired} {
		got, err := pgp.ParseRevocationReason(r.String())
		if err != nil || got != r {
			t.Errorf("%v: parsed back as %v %v", r, got, err)
		}
	}
	if _, err := pgp.ParseRevocationReason("lost"); err == nil {
		t.Error("an unknown reason was taken")
	}
	hard := map[pgp.RevocationReason]bool{0: true, 1: false, 2: true, 3: false, 32: true, 100: true}
	for r, want := range hard {
		if r.Hard() != want {
			t.Errorf("%v: hard = %v", r, r.Hard())
		}
	}
}

// The gravest revocation decides, then the earliest, whatever the order
// the backend finds them in.
func TestNoteRevocation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type rev struct {
		r  pgp.RevocationReason
		at time.Time
	}
	revs := []rev{
		{pgp.RevocationSuperseded, t0},
		{pgp.RevocationNoReason, t0.Add(2 * time.Hour)},
		{pgp.RevocationCompromised, t0.Add(3 * time.Hour)},
		{pgp.RevocationCompromised, t0.Add(time.Hour)},
		{pgp.RevocationRetired, t0.Add(-time.Hour)},
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
		var k pgp.KeyInfo
		for _, i := range order {
			k.NoteRevocation(revs[i].r, revs[i].at, revs[i].r.String())
		}
		if !k.Revoked || k.RevocationReason != pgp.RevocationCompromised || !k.RevokedAt.Equal(t0.Add(time.Hour)) || k.RevocationText != "compromised" {
			t.Errorf("order %v: %v %v at %v", order, k.Revoked, k.RevocationReason, k.RevokedAt)
		}
	}
	var soft pgp.KeyInfo
	soft.NoteRevocation(pgp.RevocationSuperseded, t0, "")
	soft.NoteRevocation(pgp.RevocationRetired, t0.Add(-time.Hour), "")
	if soft.RevocationReason != pgp.RevocationRetired || !soft.RevokedAt.Equal(t0.Add(-time.Hour)) {
		t.Errorf("soft: %v at %v", soft.RevocationReason, soft.RevokedAt)
	}
}

func TestUnguardRevocation(t *testing.T) {
	guarded := "This is a revocation certificate\n\n:-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"
	want := "This is a revocation certificate\n\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"
	if got := string(pgp.UnguardRevocation([]byte(guarded))); got != want {
		t.Errorf("got %q", got)
	}
	if got := string(pgp.UnguardRevocation([]byte(want))); got != want {
		t.Errorf("an unguarded certificate changed: %q", got)
	}
}

func TestExpiryLifetime(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := created.Add(100 * 24 * time.Hour)
	if got, err := pgp.ExpiryLifetime(created, now, 24*time.Hour); err != nil || got != 101*24*3600 {
		t.Errorf("got %d %v", got, err)
	}
	if got, err := pgp.ExpiryLifetime(created, now, 0); err != nil || got != 0 {
		t.Errorf("never: %d %v", got, err)
	}
	for _, d := range []time.Duration{-time.Second, 200 * 365 * 24 * time.Hour} {
		if _, err := pgp.ExpiryLifetime(created, now, d); err == nil {
			t.Errorf("%v taken", d)
		}
	}
}
