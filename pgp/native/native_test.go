package native_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// vectorTime is when the captured vectors were made; their checks are judged
// at that time, not today's.
var vectorTime = time.Date(2026, 11, 26, 11, 31, 0, 0, time.UTC)

func newBackend(t testing.TB, opts ...native.Option) *native.Backend {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return native.New(st, opts...)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func importFile(t testing.TB, b *native.Backend, name string) []pgp.KeyInfo {
	t.Helper()
	ks, err := b.Import(context.Background(), readFile(t, name))
	if err != nil {
		t.Fatalf("import %s: %v", name, err)
	}
	return ks
}

func mustFpr(t testing.TB, s string) pgp.Fingerprint {
	t.Helper()
	f, err := pgp.ParseFingerprint(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var (
	aliceFpr = "73E8035BCB948EB3533F153767EE3E8BF07535FA"
	bobFpr   = "3EC1012940BF2505DE661858CE26F77F77D5678B"
	carolFpr = "8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0"
)

var openpgpRE = regexp.MustCompile(`(?s)<openpgp xmlns='urn:xmpp:openpgp:0'>([^<]*)</openpgp>`)

func vectorMessage(t testing.TB, name string) []byte {
	t.Helper()
	m := openpgpRE.FindSubmatch(readFile(t, name))
	if m == nil {
		t.Fatalf("%s: no <openpgp/>", name)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Every captured message decrypts with its recipient's secret key alone (plus
// the sender's certificate) and its signature verifies; the plaintext is the
// sender's <signcrypt/> byte for byte.
func TestVectorsDecryptAndVerify(t *testing.T) {
	cases := []struct{ scenario, recipient, sender, senderFpr string }{
		{"s02-gosendxmpp-to-gosendxmpp", "bob", "alice", aliceFpr},
		{"s03-gosendxmpp-offline-delivery", "bob", "alice", aliceFpr},
		{"s05-gosendxmpp-to-profanity", "carol", "alice", aliceFpr},
		{"s06-profanity-to-gosendxmpp", "alice", "carol", carolFpr},
		{"s07-xmppc-to-gosendxmpp", "alice", "bob", bobFpr},
		{"s08-xmppc-to-profanity", "carol", "bob", bobFpr},
		{"s09-profanity-to-gosendxmpp", "bob", "carol", carolFpr},
		{"s10-shared-key-gosendxmpp-profanity", "alice", "carol", carolFpr},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			b := newBackend(t, native.WithClock(func() time.Time { return vectorTime }))
			importFile(t, b, c.recipient+".secret.asc")
			importFile(t, b, c.sender+".public.asc")
			o, err := b.Open(context.Background(), vectorMessage(t, c.scenario+".message-1.xml"))
			if err != nil {
				t.Fatal(err)
			}
			want := readFile(t, c.scenario+".message-1.signcrypt.xml")
			if !bytes.Equal(o.Plaintext, want) {
				t.Errorf("plaintext:\n got %q\nwant %q", o.Plaintext, want)
			}
			if !o.Encrypted || !o.Signed || o.SignatureErr != nil {
				t.Fatalf("encrypted=%v signed=%v sigerr=%v", o.Encrypted, o.Signed, o.SignatureErr)
			}
			if o.Signer == nil || o.Signer.Fingerprint.String() != c.senderFpr {
				t.Fatalf("signer = %+v, want %s", o.Signer, c.senderFpr)
			}
			if !o.Signer.HasUserID(mustJID(t, c.sender+"@localhost")) {
				t.Errorf("signer user IDs %v lack xmpp:%s@localhost", o.Signer.UserIDs, c.sender)
			}
			if d := vectorTime.Sub(o.SignatureTime); d < 0 || d > 5*time.Minute {
				t.Errorf("signature time %v, not shortly before %v", o.SignatureTime, vectorTime)
			}
			if len(o.EncryptedTo) != 2 {
				t.Errorf("encrypted to %d keys, want 2 (recipient and self)", len(o.EncryptedTo))
			}
		})
	}
}

func TestVectorKeys(t *testing.T) {
	b := newBackend(t)
	for _, c := range []struct{ name, fpr, uid string }{
		{"alice", aliceFpr, "xmpp:alice@localhost"},
		{"bob", bobFpr, "xmpp:bob@localhost"},
		{"carol", carolFpr, "xmpp:carol@localhost"},
	} {
		ks := importFile(t, b, c.name+".secret.asc")
		if len(ks) != 1 || ks[0].Fingerprint.String() != c.fpr || !ks[0].Secret {
			t.Fatalf("%s: %+v", c.name, ks)
		}
		if len(ks[0].UserIDs) != 1 || ks[0].UserIDs[0] != c.uid {
			t.Errorf("%s: user IDs %v", c.name, ks[0].UserIDs)
		}
		if len(ks[0].Subkeys) != 1 || !ks[0].Subkeys[0].Capabilities.Encrypt || ks[0].Subkeys[0].Algorithm != "cv25519" {
			t.Errorf("%s: subkeys %+v", c.name, ks[0].Subkeys)
		}
	}
	// carol's gpg-made key expires after 3 years; go-sendxmpp's never do.
	k, err := b.Key(context.Background(), mustFpr(t, carolFpr))
	if err != nil {
		t.Fatal(err)
	}
	if k.Expires.IsZero() || k.Expires.Sub(k.Created) < 3*364*24*time.Hour {
		t.Errorf("carol expires %v, created %v", k.Expires, k.Created)
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	for _, c := range []struct {
		expiry time.Duration
	}{{pgp.DefaultExpiry}, {0}, {90 * 24 * time.Hour}} {
		k, err := b.Generate(ctx, mustJID(t, "Alice@Example.ORG"), pgp.GenerateOptions{Expiry: c.expiry})
		if err != nil {
			t.Fatal(err)
		}
		if len(k.UserIDs) != 1 || k.UserIDs[0] != "xmpp:alice@example.org" {
			t.Errorf("user IDs %q, want exactly xmpp:alice@example.org", k.UserIDs)
		}
		if k.Algorithm != "ed25519" || !k.Capabilities.Certify || !k.Capabilities.Sign || k.Capabilities.Encrypt {
			t.Errorf("primary %s %s", k.Algorithm, k.Capabilities)
		}
		if len(k.Subkeys) != 1 || k.Subkeys[0].Algorithm != "cv25519" || k.Subkeys[0].Capabilities.String() != "E" {
			t.Errorf("subkeys %+v", k.Subkeys)
		}
		got := time.Duration(0)
		if !k.Expires.IsZero() {
			got = k.Expires.Sub(k.Created)
		}
		if got != c.expiry {
			t.Errorf("lifetime %v, want %v", got, c.expiry)
		}
		if !k.Secret {
			t.Error("generated key has no secret part")
		}
		// The key is a v4 key that GnuPG's rules accept: parse the export.
		pub, err := b.ExportPublic(ctx, k.Fingerprint, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(pub)))
		if err != nil {
			t.Fatal(err)
		}
		if e.PrimaryKey.Version != 4 || e.PrivateKey != nil {
			t.Errorf("export: version %d, private %v", e.PrimaryKey.Version, e.PrivateKey != nil)
		}
	}
	if _, err := b.Generate(ctx, mustJID(t, "example.org"), pgp.GenerateOptions{}); err == nil {
		t.Error("a key for a JID without local part was made")
	}
	ks, err := b.Lookup(ctx, mustJID(t, "alice@example.org/laptop"))
	if err != nil || len(ks) != 3 {
		t.Errorf("lookup: %d keys, %v", len(ks), err)
	}
}

// pair makes two accounts in separate stores that know each other's
// certificates, as after `key export` / `cert import`.
func pair(t testing.TB) (alice, bob *native.Backend, af, bf pgp.Fingerprint) {
	ctx := context.Background()
	alice, bob = newBackend(t), newBackend(t)
	ak, err := alice.Generate(ctx, mustJID(t, "alice@example.org"), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	bk, err := bob.Generate(ctx, mustJID(t, "bob@example.org"), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, alice, bob, ak.Fingerprint, "alice@example.org")
	exchange(t, bob, alice, bk.Fingerprint, "bob@example.org")
	return alice, bob, ak.Fingerprint, bk.Fingerprint
}

func exchange(t testing.TB, from, to *native.Backend, fpr pgp.Fingerprint, j string) {
	t.Helper()
	jj := mustJID(t, j)
	pub, err := from.ExportPublic(context.Background(), fpr, &jj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := to.Import(context.Background(), pub); err != nil {
		t.Fatal(err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	alice, bob, af, bf := pair(t)
	msg := []byte("<signcrypt xmlns='urn:xmpp:openpgp:0'/>")
	ct, err := alice.Seal(ctx, msg, pgp.SealOptions{Signer: af, Recipients: []pgp.Fingerprint{bf, af}})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*native.Backend{"bob": bob, "alice (self)": alice} {
		o, err := b.Open(ctx, ct)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(o.Plaintext, msg) || o.SignatureErr != nil || o.Signer == nil || o.Signer.Fingerprint != af {
			t.Errorf("%s: %+v", name, o)
		}
	}
	// Sign only (<sign/>) and encrypt only (<crypt/>).
	signed, err := alice.Seal(ctx, msg, pgp.SealOptions{Signer: af})
	if err != nil {
		t.Fatal(err)
	}
	o, err := bob.Open(ctx, signed)
	if err != nil || o.Encrypted || !o.Signed || o.SignatureErr != nil {
		t.Errorf("sign only: %+v %v", o, err)
	}
	crypt, err := alice.Seal(ctx, msg, pgp.SealOptions{Recipients: []pgp.Fingerprint{bf}})
	if err != nil {
		t.Fatal(err)
	}
	o, err = bob.Open(ctx, crypt)
	if err != nil || !o.Encrypted || o.Signed {
		t.Errorf("crypt only: %+v %v", o, err)
	}
}

func TestOpenFailures(t *testing.T) {
	ctx := context.Background()
	alice, bob, af, bf := pair(t)
	msg := []byte("hello")
	ct, err := alice.Seal(ctx, msg, pgp.SealOptions{Signer: af, Recipients: []pgp.Fingerprint{bf}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every flipped byte", func(t *testing.T) {
		// No flipped byte anywhere may yield a changed message that looks
		// fine: it fails to open, its signature fails, or (for bits no
		// one reads, like an MPI's bit count) the genuine message comes out.
		benign := 0
		for i := range ct {
			bad := bytes.Clone(ct)
			bad[i] ^= 0x01
			o, err := bob.Open(ctx, bad)
			if err == nil && o.SignatureErr == nil {
				if !bytes.Equal(o.Plaintext, msg) || o.Signer == nil || o.Signer.Fingerprint != af {
					t.Fatalf("flipping byte %d of %d gave %q signed by %v", i, len(ct), o.Plaintext, o.Signer)
				}
				benign++
			}
		}
		if benign > 4 {
			t.Errorf("%d of %d flipped bytes went unnoticed", benign, len(ct))
		}
	})
	t.Run("tampered body", func(t *testing.T) {
		bad := bytes.Clone(ct)
		bad[len(bad)-5] ^= 0x40
		_, err := bob.Open(ctx, bad)
		if !errors.Is(err, pgp.ErrTampered) {
			t.Errorf("got %v, want ErrTampered", err)
		}
	})
	t.Run("not for me", func(t *testing.T) {
		carol := newBackend(t)
		if _, err := carol.Generate(ctx, mustJID(t, "carol@example.org"), pgp.GenerateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := carol.Open(ctx, ct)
		var nd *pgp.NoDecryptionKeyError
		if !errors.As(err, &nd) || len(nd.KeyIDs) != 1 {
			t.Errorf("got %v, want NoDecryptionKeyError", err)
		}
	})
	t.Run("unknown signer", func(t *testing.T) {
		dave := newBackend(t)
		dk, err := dave.Generate(ctx, mustJID(t, "dave@example.org"), pgp.GenerateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, bob, dave, bf, "bob@example.org")
		m, err := dave.Seal(ctx, msg, pgp.SealOptions{Signer: dk.Fingerprint, Recipients: []pgp.Fingerprint{bf}})
		if err != nil {
			t.Fatal(err)
		}
		o, err := bob.Open(ctx, m)
		var se *pgp.SignatureError
		if err != nil || !errors.As(o.SignatureErr, &se) || !se.Unknown || se.KeyID != dk.Fingerprint.KeyID() {
			t.Errorf("got %+v %v, want an unknown-signer SignatureError", o, err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, in := range [][]byte{nil, []byte("hello"), {0xff, 0xff, 0xff}} {
			if _, err := bob.Open(ctx, in); !errors.Is(err, pgp.ErrMalformed) {
				t.Errorf("%q: got %v, want ErrMalformed", in, err)
			}
		}
	})
}

func TestExpiredAndRevoked(t *testing.T) {
	ctx := context.Background()
	past := time.Now().Add(-48 * time.Hour)
	old := newBackend(t, native.WithClock(func() time.Time { return past }))
	ok, err := old.Generate(ctx, mustJID(t, "old@example.org"), pgp.GenerateOptions{Expiry: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	me := newBackend(t)
	mk, err := me.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, old, me, ok.Fingerprint, "old@example.org")
	_, err = me.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: mk.Fingerprint, Recipients: []pgp.Fingerprint{ok.Fingerprint}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonExpired {
		t.Errorf("encrypting to an expired key: %v", err)
	}
	// A message signed with a key that had expired is refused, whatever its
	// signature claims: the signer signs "now", after expiry.
	exchange(t, me, old, mk.Fingerprint, "me@example.org")
	late := newBackend(t)
	if _, err := late.Import(ctx, mustExportSecret(t, old, ok.Fingerprint)); err != nil {
		t.Fatal(err)
	}
	exchange(t, me, late, mk.Fingerprint, "me@example.org")
	if _, err := late.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: ok.Fingerprint, Recipients: []pgp.Fingerprint{mk.Fingerprint}}); !errors.As(err, &ue) || ue.Reason != pgp.ReasonExpired {
		t.Errorf("signing with an expired key: %v", err)
	}
}

func mustExportSecret(t testing.TB, b *native.Backend, f pgp.Fingerprint) []byte {
	t.Helper()
	s, err := b.ExportSecret(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportMergesAndKeepsSecret(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	importFile(t, b, "alice.secret.asc")
	// A public copy arriving later (from PEP, say) must not drop the secret.
	importFile(t, b, "alice.public.asc")
	k, err := b.Key(ctx, mustFpr(t, aliceFpr))
	if err != nil || !k.Secret {
		t.Fatalf("secret lost: %+v %v", k, err)
	}
	sks, err := b.SecretKeys(ctx)
	if err != nil || len(sks) != 1 {
		t.Fatalf("secret keys: %d %v", len(sks), err)
	}
	// Armored with several blocks, or binary: both import.
	two := append(readFile(t, "bob.public.asc"), readFile(t, "carol.public.asc")...)
	if ks, err := b.Import(ctx, two); err != nil || len(ks) != 2 {
		t.Fatalf("two blocks: %d %v", len(ks), err)
	}
	bin, err := b.ExportPublic(ctx, mustFpr(t, bobFpr), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := newBackend(t).Import(ctx, bin); err != nil || len(ks) != 1 {
		t.Fatalf("binary: %v", err)
	}
	if _, err := b.Import(ctx, []byte("-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n")); !errors.Is(err, pgp.ErrMalformed) {
		t.Errorf("a message imported as a key: %v", err)
	}
}

func TestRevocationIsKept(t *testing.T) {
	ctx := context.Background()
	owner := newBackend(t)
	k, err := owner.Generate(ctx, mustJID(t, "rev@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := mustJID(t, "rev@example.org")
	before, err := owner.ExportPublic(ctx, k.Fingerprint, &j)
	if err != nil {
		t.Fatal(err)
	}
	// Revoke with go-crypto directly: ox's revoke command comes later.
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(mustExportSecret(t, owner, k.Fingerprint))))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Revoke(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	var revoked bytes.Buffer
	if err := e.Serialize(&revoked); err != nil {
		t.Fatal(err)
	}
	contact := newBackend(t)
	me, err := contact.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{before, revoked.Bytes(), before} { // the old copy again must not un-revoke
		if _, err := contact.Import(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	got, err := contact.Key(ctx, k.Fingerprint)
	if err != nil || !got.Revoked {
		t.Fatalf("revocation lost: %+v %v", got, err)
	}
	_, err = contact.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{k.Fingerprint}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked {
		t.Errorf("encrypting to a revoked key: %v", err)
	}
}

func TestMinimalExport(t *testing.T) {
	ctx := context.Background()
	// A GnuPG user's key: an e-mail user ID besides the xmpp: one, and a
	// third-party certification.
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity("xmpp:gpguser@example.org", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddUserId("Gpg User", "", "gpguser@example.org", cfg); err != nil {
		t.Fatal(err)
	}
	friend, err := openpgp.NewEntity("xmpp:friend@example.org", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SignIdentity("xmpp:gpguser@example.org", friend, cfg); err != nil {
		t.Fatal(err)
	}
	var sec bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&sec, cfg); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	ks, err := b.Import(ctx, sec.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	j := mustJID(t, "gpguser@example.org")
	min, err := b.ExportPublic(ctx, ks[0].Fingerprint, &j)
	if err != nil {
		t.Fatal(err)
	}
	m, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(min)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Identities) != 1 || m.Identities["xmpp:gpguser@example.org"] == nil {
		t.Fatalf("identities %v", m.Identities)
	}
	if n := len(m.Identities["xmpp:gpguser@example.org"].OtherCertifications); n != 0 {
		t.Errorf("%d third-party certifications kept", n)
	}
	full, _ := b.ExportPublic(ctx, ks[0].Fingerprint, nil)
	if len(min) >= len(full) {
		t.Errorf("minimal export %d bytes, full %d", len(min), len(full))
	}
	other := mustJID(t, "nobody@example.org")
	if _, err := b.ExportPublic(ctx, ks[0].Fingerprint, &other); !errors.Is(err, pgp.ErrUnsupportedKey) {
		t.Errorf("export for a JID the key lacks: %v", err)
	}
}

// Several encryption subkeys (one per device) are all encrypted to.
func TestEverySubkeyIsEncryptedTo(t *testing.T) {
	ctx := context.Background()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity("xmpp:multi@example.org", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddEncryptionSubkey(cfg); err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	me, err := b.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := b.Import(ctx, pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{ks[0].Fingerprint, me.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Open(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.EncryptedTo) != 3 {
		t.Errorf("encrypted to %d subkeys, want 3 (two devices and self)", len(o.EncryptedTo))
	}
}

func TestInspectStoresNothing(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	ks, err := b.Inspect(ctx, readFile(t, "carol.public.asc"))
	if err != nil || len(ks) != 1 || ks[0].Fingerprint.String() != carolFpr || ks[0].UserIDs[0] != "xmpp:carol@localhost" {
		t.Fatalf("%+v %v", ks, err)
	}
	if all, _ := b.List(ctx); len(all) != 0 {
		t.Errorf("inspect stored %d keys", len(all))
	}
}

// A message to more keys than there are cores (its key packets are made in
// parallel) opens for every recipient, signed, and lists its key packets in
// the order of the recipients.
func TestSealToManyRecipients(t *testing.T) {
	ctx := context.Background()
	sender := newBackend(t)
	me, err := sender.Generate(ctx, mustJID(t, "room-sender@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		b   *native.Backend
		fpr pgp.Fingerprint
	}
	var members []member
	var to []pgp.Fingerprint
	var wantIDs []uint64
	for i := range 9 {
		j := mustJID(t, "member"+string(rune('a'+i))+"@example.org")
		b := newBackend(t)
		k, err := b.Generate(ctx, j, pgp.GenerateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, b, sender, k.Fingerprint, j.String())
		exchange(t, sender, b, me.Fingerprint, "room-sender@example.org")
		members = append(members, member{b, k.Fingerprint})
		to = append(to, k.Fingerprint)
		wantIDs = append(wantIDs, k.Subkeys[0].Fingerprint.KeyID())
	}
	msg := []byte("<signcrypt xmlns='urn:xmpp:openpgp:0'><payload><body xmlns='jabber:client'>hi all</body></payload></signcrypt>")
	ct, err := sender.Seal(ctx, msg, pgp.SealOptions{Signer: me.Fingerprint, Recipients: to})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		o, err := m.b.Open(ctx, ct)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if !bytes.Equal(o.Plaintext, msg) || o.SignatureErr != nil || o.Signer == nil || o.Signer.Fingerprint != me.Fingerprint {
			t.Errorf("member %d: %+v", i, o)
		}
		if i == 0 && !equalIDs(o.EncryptedTo, wantIDs) {
			t.Errorf("key packets for %X, want %X", o.EncryptedTo, wantIDs)
		}
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The session key's cipher is one every recipient lists: AES-256 when all
// do, AES-128 (which every implementation must read) when one does not.
func TestSealCipherEveryoneReads(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	me, err := b.Generate(ctx, mustJID(t, "me@example.org"), pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, DefaultCipher: packet.CipherAES128}
	e, err := openpgp.NewEntity("xmpp:old@example.org", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	sym, err := e.PrimarySelfSignature(time.Now(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(sym.PreferredSymmetric, uint8(packet.CipherAES256)) >= 0 {
		t.Fatalf("go-crypto now lists AES-256 for a key made with DefaultCipher AES-128 (%v): this test can no longer build its case; build the key's preferences another way", sym.PreferredSymmetric)
	}
	ks, err := b.Import(ctx, pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		to   []pgp.Fingerprint
		want packet.CipherFunction
	}{
		{"self only", []pgp.Fingerprint{me.Fingerprint}, packet.CipherAES256},
		{"with a key listing AES-128 only", []pgp.Fingerprint{ks[0].Fingerprint, me.Fingerprint}, packet.CipherAES128},
	} {
		ct, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: c.to})
		if err != nil {
			t.Fatal(err)
		}
		o, err := b.Open(ctx, ct)
		if err != nil || o.SignatureErr != nil {
			t.Fatalf("%s: %v %v", c.name, err, o)
		}
		got, err := sessionCipherOf(t, b, ct, me)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: cipher %d, want %d", c.name, got, c.want)
		}
	}
}

// sessionCipherOf decrypts the key packet of ct addressed to me's subkey
// and returns the cipher it names.
func sessionCipherOf(t *testing.T, b *native.Backend, ct []byte, me pgp.KeyInfo) (packet.CipherFunction, error) {
	t.Helper()
	sec, err := b.ExportSecret(context.Background(), me.Fingerprint)
	if err != nil {
		return 0, err
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(sec)))
	if err != nil {
		return 0, err
	}
	r := packet.NewReader(bytes.NewReader(ct))
	for {
		p, err := r.Next()
		if err != nil {
			return 0, err
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			return 0, errors.New("no key packet for my subkey")
		}
		if ek.KeyId != e.Subkeys[0].PublicKey.KeyId {
			continue
		}
		if err := ek.Decrypt(e.Subkeys[0].PrivateKey, nil); err != nil {
			return 0, err
		}
		return ek.CipherFunc, nil
	}
}
