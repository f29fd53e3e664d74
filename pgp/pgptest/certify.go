package pgptest

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"codeberg.org/ox/ox/pgp"
)

// RunCertify runs the web-of-trust part of the suite: Certify,
// ExportPublicWith and KeyInfo.Certifications, within one kind of backend.
// (It is separate from Run so that a backend's tests call it on their own.)
func RunCertify(t *testing.T, newBackend Factory) {
	t.Run("Certify", func(t *testing.T) {
		t.Parallel()
		certifyRoundTrip(t, newBackend, newBackend)
	})
	t.Run("CertifyRefuses", func(t *testing.T) {
		t.Parallel()
		certifyRefuses(t, newBackend)
	})
	t.Run("CertificationsRead", func(t *testing.T) {
		t.Parallel()
		certificationsRead(t, newBackend)
	})
}

// RunCertifyInterop checks that each of two backends reads, merges and
// republishes the certifications the other makes.
func RunCertifyInterop(t *testing.T, newA, newB Factory) {
	t.Run("first-certifies-second", func(t *testing.T) {
		t.Parallel()
		certifyRoundTrip(t, newA, newB)
	})
	t.Run("second-certifies-first", func(t *testing.T) {
		t.Parallel()
		certifyRoundTrip(t, newB, newA)
	})
}

// certifyRoundTrip is the field notes' four steps and what follows: alice
// (in a backend newA makes) certifies bob's user ID and hands bob the
// result; bob (newB) merges it into his own key and publishes the key with
// alice's certification; carol (newA) sees it, verified once she has
// alice's key.
func certifyRoundTrip(t *testing.T, newA, newB Factory) {
	ctx := context.Background()
	alice, bob, af, bf := pair(t, newA, newB)
	const uid = "xmpp:bob@example.org"
	cert, err := alice.Certify(ctx, af, bf, uid)
	if err != nil {
		t.Fatalf("certify: %v", err)
	}
	// alice's keyring knows it certified bob.
	k, err := alice.Key(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := k.CertifiedBy(af, uid); !ok || c.IssuerKeyID != af.KeyID() || c.Created.IsZero() {
		t.Fatalf("alice's copy of bob's key carries %+v, want a verified certification by %s", k.Certifications, af)
	}
	// What goes to bob: the user ID, its self-signature, the certification
	// (type 0x10, by alice's primary key), the subkey binding; nothing else.
	sigs := signatures(t, cert)
	if len(sigs) != 3 {
		t.Errorf("the certified key has %d signatures, want 3: %v", len(sigs), sigs)
	}
	n := 0
	for _, s := range sigs {
		if s.SigType != packet.SigTypeGenericCert && s.SigType != packet.SigTypePositiveCert && s.SigType != packet.SigTypeSubkeyBinding {
			t.Errorf("unexpected signature of type %#x", s.SigType)
		}
		if s.SigType == packet.SigTypeGenericCert && s.IssuerKeyId != nil && *s.IssuerKeyId == af.KeyID() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d generic certifications (0x10) by alice, want 1: %v", n, sigs)
	}
	// Certifying again makes no second certification.
	again, err := alice.Certify(ctx, af, bf, uid)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := alice.Key(ctx, bf); len(k.Certifications) != 1 || len(signatures(t, again)) != 3 {
		t.Errorf("certifying twice: %+v", k.Certifications)
	}

	// bob reads it, with alice's key at hand, and merges it.
	ins, err := bob.Inspect(ctx, cert)
	if err != nil || len(ins) != 1 || ins[0].Fingerprint != bf || fmt.Sprint(ins[0].UserIDs) != "["+uid+"]" {
		t.Fatalf("bob inspects %+v %v", ins, err)
	}
	if _, ok := ins[0].CertifiedBy(af, uid); !ok {
		t.Fatalf("bob sees %+v, want alice's verified certification", ins[0].Certifications)
	}
	if _, err := bob.Import(ctx, cert); err != nil {
		t.Fatal(err)
	}
	k, err = bob.Key(ctx, bf)
	if err != nil || !k.Secret {
		t.Fatalf("bob's key after the merge: %+v %v", k, err)
	}
	if _, ok := k.CertifiedBy(af, uid); !ok {
		t.Fatalf("bob's key carries %+v after the merge", k.Certifications)
	}
	seal(t, bob, []byte("still mine"), bf, bf)

	// Published minimal, the certification stays home; published with
	// alice as an accepted certifier, it goes along.
	j := mustJID(t, "bob@example.org")
	min, err := bob.ExportPublic(ctx, bf, &j)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(signatures(t, min)); n != 2 {
		t.Errorf("the minimal export has %d signatures, want 2", n)
	}
	with, err := bob.ExportPublicWith(ctx, bf, &j, pgp.ExportOptions{Certifiers: []pgp.Fingerprint{af}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(signatures(t, with)); n != 3 {
		t.Errorf("the export with alice's certification has %d signatures, want 3", n)
	}
	other := generate(t, newA(t), "dave@example.org").Fingerprint
	without, err := bob.ExportPublicWith(ctx, bf, &j, pgp.ExportOptions{Certifiers: []pgp.Fingerprint{other}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(signatures(t, without)); n != 2 {
		t.Errorf("the export with another certifier has %d signatures, want 2", n)
	}

	// carol fetches bob's key before alice's: the certification is there,
	// unverified; once alice's key is stored, it is verified.
	carol := newA(t)
	ks := importData(t, carol, with)
	if len(ks) != 1 || len(ks[0].Certifications) != 1 {
		t.Fatalf("carol imports %+v", ks)
	}
	if c := ks[0].Certifications[0]; c.Verified || c.IssuerKeyID != af.KeyID() || c.UserID != uid {
		t.Errorf("before alice's key: %+v, want unverified, by key ID %s", c, pgp.KeyIDString(af.KeyID()))
	}
	exchange(t, alice, carol, af, "alice@example.org")
	k, err = carol.Key(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.CertifiedBy(af, uid); !ok {
		t.Errorf("after alice's key: %+v, want alice's verified certification", k.Certifications)
	}
	found, err := carol.Lookup(ctx, j)
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %+v %v", found, err)
	}
	if _, ok := found[0].CertifiedBy(af, uid); !ok {
		t.Errorf("lookup: %+v, want alice's verified certification", found[0].Certifications)
	}
	all, err := carol.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		if _, ok := k.CertifiedBy(af, uid); k.Fingerprint == bf && !ok {
			t.Errorf("list: %+v, want alice's verified certification", k.Certifications)
		}
	}
}

func certifyRefuses(t *testing.T, newBackend Factory) {
	ctx := context.Background()
	alice, _, af, bf := pair(t, newBackend, newBackend)
	if _, err := alice.Certify(ctx, af, af, "xmpp:alice@example.org"); err == nil {
		t.Error("a key certified itself")
	}
	if _, err := alice.Certify(ctx, bf, af, "xmpp:alice@example.org"); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("certify with a contact's key: %v, want ErrNoSecretKey", err)
	}
	if _, err := alice.Certify(ctx, af, bf, "xmpp:mallory@example.org"); !errors.Is(err, pgp.ErrUnsupportedKey) {
		t.Errorf("certify a user ID the key lacks: %v, want ErrUnsupportedKey", err)
	}
	if _, err := alice.Certify(ctx, af, mustFpr(t, CarolFpr), "xmpp:carol@example.org"); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("certify a key not stored: %v, want ErrNotFound", err)
	}
	if k, _ := alice.Key(ctx, bf); len(k.Certifications) != 0 {
		t.Errorf("a refused certification left %+v", k.Certifications)
	}
}

// signatures are the signature packets of binary key data.
func signatures(t *testing.T, data []byte) []*packet.Signature {
	t.Helper()
	var out []*packet.Signature
	r := packet.NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading packets: %v", err)
		}
		if s, ok := p.(*packet.Signature); ok {
			out = append(out, s)
		}
	}
}

// certificationsRead: keys made elsewhere (go-crypto) with third-party
// certifications are described alike: a certification by a stored key is
// verified, one by an unknown key is listed unverified, one its issuer
// revoked later is left out, and a forged one is not verified.
func certificationsRead(t *testing.T, newBackend Factory) {
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	const uid = "xmpp:target@example.org"
	target := newFixture(t, uid, created, 0)
	friend := newFixture(t, "xmpp:friend@example.org", created, 0)
	stranger := newFixture(t, "xmpp:stranger@example.org", created, 0)
	former := newFixture(t, "xmpp:former@example.org", created, 0)
	forger := newFixture(t, "xmpp:forger@example.org", created, 0)
	for _, f := range []*fixture{friend, stranger, former, forger} {
		if err := target.e.SignIdentity(uid, f.e, f.cfg); err != nil {
			t.Fatal(err)
		}
	}
	// former takes the certification back, half an hour later.
	rev := &packet.Signature{
		Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: former.e.PrimaryKey.PubKeyAlgo,
		Hash: crypto.SHA256, CreationTime: created.Add(30 * time.Minute), IssuerKeyId: &former.e.PrimaryKey.KeyId,
	}
	cfg := *former.cfg
	cfg.Time = func() time.Time { return created.Add(30 * time.Minute) }
	if err := rev.SignUserId(uid, target.e.PrimaryKey, former.e.PrivateKey, &cfg); err != nil {
		t.Fatal(err)
	}
	id := target.e.Identities[uid]
	id.OtherCertifications = append(id.OtherCertifications, packet.NewVerifiableSig(rev))
	// forger's certification is of another user ID, moved onto this one.
	other := newFixture(t, "xmpp:other@example.org", created, 0)
	if err := other.e.SignIdentity("xmpp:other@example.org", forger.e, forger.cfg); err != nil {
		t.Fatal(err)
	}
	for i, s := range id.OtherCertifications {
		if s.Packet.CheckKeyIdOrFingerprint(forger.e.PrimaryKey) {
			id.OtherCertifications[i] = other.e.Identities["xmpp:other@example.org"].OtherCertifications[0]
		}
	}
	b := newBackend(t)
	for _, f := range []*fixture{friend, former, forger} {
		importData(t, b, f.public(t))
	}
	ks := importData(t, b, target.public(t))
	if len(ks) != 1 {
		t.Fatalf("imported %d keys", len(ks))
	}
	want := map[pgp.Fingerprint]bool{friend.fpr(): true, stranger.fpr(): false, forger.fpr(): false}
	for name, k := range map[string]pgp.KeyInfo{"import": ks[0], "key": mustKey(t, b, target.fpr())} {
		got := map[pgp.Fingerprint]bool{}
		for _, c := range k.Certifications {
			if c.UserID != uid || c.Created.IsZero() {
				t.Errorf("%s: %+v", name, c)
			}
			got[c.Issuer] = c.Verified
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: certifications %v (issuer: verified), want %v", name, got, want)
		}
	}
}

func mustKey(t *testing.T, b pgp.Backend, f pgp.Fingerprint) pgp.KeyInfo {
	t.Helper()
	k, err := b.Key(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
