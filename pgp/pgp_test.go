package pgp_test

import (
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

func TestParseFingerprint(t *testing.T) {
	const want = "73E8035BCB948EB3533F153767EE3E8BF07535FA"
	for _, in := range []string{
		want,
		"73e8035bcb948eb3533f153767ee3e8bf07535fa",
		"73E8 035B CB94 8EB3 533F  1537 67EE 3E8B F075 35FA",
		"OPENPGP4FPR:73E8035BCB948EB3533F153767EE3E8BF07535FA",
		"openpgp4fpr:73e8035bcb948eb3533f153767ee3e8bf07535fa",
		" 0x73E8035BCB948EB3533F153767EE3E8BF07535FA\n",
	} {
		f, err := pgp.ParseFingerprint(in)
		if err != nil || f.String() != want {
			t.Errorf("%q: %v %v", in, f, err)
		}
	}
	for _, in := range []string{"", "73E8", want + "00", "Z3E8035BCB948EB3533F153767EE3E8BF07535FA"} {
		if _, err := pgp.ParseFingerprint(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	f, _ := pgp.ParseFingerprint(want)
	if g := f.Grouped(); g != "73E8 035B CB94 8EB3 533F 1537 67EE 3E8B F075 35FA" {
		t.Errorf("grouped %q", g)
	}
	if f.KeyID() != 0x67EE3E8BF07535FA {
		t.Errorf("key ID %X", f.KeyID())
	}
}

func TestUserIDs(t *testing.T) {
	alice, _ := jid.Parse("Alice@Example.org/phone")
	if got := pgp.UserID(alice); got != "xmpp:alice@example.org" {
		t.Errorf("UserID %q", got)
	}
	k := pgp.KeyInfo{UserIDs: []string{"Alice <alice@example.org>", "xmpp:ALICE@example.org", "xmpp:bob@example.org/res"}}
	if !k.HasUserID(alice) {
		t.Error("normalised user ID not matched")
	}
	bob, _ := jid.Parse("bob@example.org")
	if k.HasUserID(bob) {
		t.Error("an xmpp: user ID with a resource matched")
	}
}

func TestUsable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	enc := []pgp.Subkey{{Capabilities: pgp.Capabilities{Encrypt: true}}}
	for _, c := range []struct {
		k    pgp.KeyInfo
		want pgp.UnusableReason
	}{
		{pgp.KeyInfo{Subkeys: enc}, 0},
		{pgp.KeyInfo{Subkeys: enc, Revoked: true}, pgp.ReasonRevoked},
		{pgp.KeyInfo{Subkeys: enc, Expires: now}, pgp.ReasonExpired},
		{pgp.KeyInfo{Subkeys: enc, Expires: now.Add(time.Second)}, 0},
		{pgp.KeyInfo{}, pgp.ReasonNoEncryptionKey},
		{pgp.KeyInfo{Subkeys: []pgp.Subkey{{Capabilities: pgp.Capabilities{Encrypt: true}, Revoked: true}}}, pgp.ReasonNoEncryptionKey},
	} {
		err := c.k.Usable(now)
		var got pgp.UnusableReason
		if ue, ok := err.(*pgp.KeyUnusableError); ok {
			got = ue.Reason
		}
		if got != c.want {
			t.Errorf("%+v: %v, want reason %v", c.k, err, c.want)
		}
	}
}
