// Package pgptest is the conformance suite of pgp.Backend: the behaviours
// that every backend (the embedded one, package pgp/native, and the GnuPG
// one, package pgp/gnupg) must show alike, so that the rest of ox cannot
// tell them apart. A backend's tests run it with Run, and check that it
// reads what another backend writes with RunInterop.
package pgptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// Factory returns a new, empty backend (its own store or GnuPG home) for
// one test, and registers what cleans it up with t.Cleanup. It is called
// from parallel tests.
type Factory func(t *testing.T) pgp.Backend

// Run runs the whole suite against the backends newBackend makes.
func Run(t *testing.T, newBackend Factory) {
	s := &suite{new: newBackend}
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Generate", s.generate},
		{"VectorKeys", s.vectorKeys},
		{"VectorMessages", s.vectorMessages},
		{"ExportMinimalAndImport", s.exportMinimalAndImport},
		{"MinimalExportKeepsOnlyXMPP", s.minimalExport},
		{"SealOpen", s.sealOpen},
		{"Tampered", s.tampered},
		{"NotForMe", s.notForMe},
		{"UnknownSigner", s.unknownSigner},
		{"Expired", s.expired},
		{"SignedBeforeExpiry", s.signedBeforeExpiry},
		{"Revoked", s.revoked},
		{"SeveralEncryptionSubkeys", s.severalSubkeys},
		{"SigningSubkey", s.signingSubkey},
		{"InspectStoresNothing", s.inspect},
		{"Malformed", s.malformed},
		{"ImportMerges", s.importMerges},
		{"TooLarge", s.tooLarge},
		{"DecompressionBomb", s.bomb},
		{"NotFound", s.notFound},
		{"LookupNormalises", s.lookup},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t)
		})
	}
}

type suite struct{ new Factory }

// Helpers, all failing the test on error.

func importData(t *testing.T, b pgp.Backend, data []byte) []pgp.KeyInfo {
	t.Helper()
	ks, err := b.Import(context.Background(), data)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return ks
}

func generate(t *testing.T, b pgp.Backend, j string) pgp.KeyInfo {
	t.Helper()
	k, err := b.Generate(context.Background(), mustJID(t, j), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatalf("generate %s: %v", j, err)
	}
	return k
}

// exchange gives to the certificate of fpr, exported minimal for j.
func exchange(t *testing.T, from, to pgp.Backend, fpr pgp.Fingerprint, j string) {
	t.Helper()
	jj := mustJID(t, j)
	pub, err := from.ExportPublic(context.Background(), fpr, &jj)
	if err != nil {
		t.Fatalf("export %s: %v", j, err)
	}
	if _, err := to.Import(context.Background(), pub); err != nil {
		t.Fatalf("import %s: %v", j, err)
	}
}

// pair makes alice and bob in two backends that know each other.
func pair(t *testing.T, newA, newB Factory) (alice, bob pgp.Backend, af, bf pgp.Fingerprint) {
	t.Helper()
	alice, bob = newA(t), newB(t)
	ak := generate(t, alice, "alice@example.org")
	bk := generate(t, bob, "bob@example.org")
	exchange(t, alice, bob, ak.Fingerprint, "alice@example.org")
	exchange(t, bob, alice, bk.Fingerprint, "bob@example.org")
	return alice, bob, ak.Fingerprint, bk.Fingerprint
}

func seal(t *testing.T, b pgp.Backend, msg []byte, signer pgp.Fingerprint, to ...pgp.Fingerprint) []byte {
	t.Helper()
	ct, err := b.Seal(context.Background(), msg, pgp.SealOptions{Signer: signer, Recipients: to})
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return ct
}

// openGood opens ct and checks that it is msg, signed by signer (unless
// zero) with a good signature, and encrypted as said.
func openGood(t *testing.T, b pgp.Backend, ct, msg []byte, signer pgp.Fingerprint, encrypted bool) *pgp.Opened {
	t.Helper()
	o, err := b.Open(context.Background(), ct)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(o.Plaintext, msg) {
		t.Errorf("plaintext %q, want %q", o.Plaintext, msg)
	}
	if o.Encrypted != encrypted {
		t.Errorf("encrypted = %v, want %v", o.Encrypted, encrypted)
	}
	if signer.IsZero() {
		if o.Signed || o.SignatureErr != nil || o.Signer != nil {
			t.Errorf("unsigned message: signed=%v err=%v signer=%v", o.Signed, o.SignatureErr, o.Signer)
		}
		return o
	}
	if !o.Signed || o.SignatureErr != nil {
		t.Fatalf("signed=%v signature error %v", o.Signed, o.SignatureErr)
	}
	if o.Signer == nil || o.Signer.Fingerprint != signer {
		t.Errorf("signer %v, want %s", o.Signer, signer)
	}
	if d := time.Since(o.SignatureTime); d < -time.Minute || d > 10*time.Minute {
		t.Errorf("signature time %v is not now", o.SignatureTime)
	}
	return o
}

func subkeyIDs(k pgp.KeyInfo, encrypt bool) []uint64 {
	var ids []uint64
	for _, s := range k.Subkeys {
		if !encrypt || s.Capabilities.Encrypt {
			ids = append(ids, s.Fingerprint.KeyID())
		}
	}
	return ids
}

func sameIDs(a, b []uint64) bool {
	x, y := append([]uint64(nil), a...), append([]uint64(nil), b...)
	sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
	sort.Slice(y, func(i, j int) bool { return y[i] < y[j] })
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// The tests.

func (s *suite) generate(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	for _, expiry := range []time.Duration{pgp.DefaultExpiry, 0, 90 * 24 * time.Hour} {
		before := time.Now().Add(-2 * time.Second)
		k, err := b.Generate(ctx, mustJID(t, "Alice@Example.ORG"), pgp.GenerateOptions{Expiry: expiry})
		if err != nil {
			t.Fatal(err)
		}
		if len(k.UserIDs) != 1 || k.UserIDs[0] != "xmpp:alice@example.org" {
			t.Errorf("user IDs %q, want exactly xmpp:alice@example.org", k.UserIDs)
		}
		if k.Algorithm != "ed25519" || !k.Capabilities.Certify || !k.Capabilities.Sign || k.Capabilities.Encrypt {
			t.Errorf("primary key %s %s, want ed25519 CS", k.Algorithm, k.Capabilities)
		}
		if len(k.Subkeys) != 1 || k.Subkeys[0].Algorithm != "cv25519" || k.Subkeys[0].Capabilities.String() != "E" {
			t.Errorf("subkeys %+v, want one cv25519 E", k.Subkeys)
		}
		if k.Created.Before(before) || k.Created.After(time.Now().Add(2*time.Second)) {
			t.Errorf("created %v, not now", k.Created)
		}
		var got time.Duration
		if !k.Expires.IsZero() {
			got = k.Expires.Sub(k.Created)
		}
		if got != expiry {
			t.Errorf("lifetime %v, want %v", got, expiry)
		}
		if len(k.Subkeys) == 1 && !k.Subkeys[0].Expires.Equal(k.Expires) {
			t.Errorf("subkey expires %v, key %v", k.Subkeys[0].Expires, k.Expires)
		}
		if !k.Secret || k.Revoked || k.Usable(time.Now()) != nil {
			t.Errorf("secret=%v revoked=%v usable: %v", k.Secret, k.Revoked, k.Usable(time.Now()))
		}
		again, err := b.Key(ctx, k.Fingerprint)
		if err != nil || !equalInfo(again, k) {
			t.Errorf("Key after Generate:\n got %+v %v\nwant %+v", again, err, k)
		}
	}
	if _, err := b.Generate(ctx, mustJID(t, "example.org"), pgp.GenerateOptions{}); err == nil {
		t.Error("made a key for a JID without local part")
	}
	ks, err := b.Lookup(ctx, mustJID(t, "alice@example.org/laptop"))
	if err != nil || len(ks) != 3 {
		t.Fatalf("lookup: %d keys, %v", len(ks), err)
	}
	for i := 1; i < len(ks); i++ {
		if ks[i].Created.After(ks[i-1].Created) {
			t.Errorf("lookup not newest first: %v after %v", ks[i].Created, ks[i-1].Created)
		}
	}
	sks, err := b.SecretKeys(ctx)
	if err != nil || len(sks) != 3 {
		t.Errorf("secret keys: %d, %v", len(sks), err)
	}
	all, err := b.List(ctx)
	if err != nil || len(all) != 3 {
		t.Errorf("list: %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Fingerprint.String() < all[i-1].Fingerprint.String() {
			t.Error("list not in fingerprint order")
		}
	}
}

// equalInfo compares two summaries of the same key, as backends write them.
func equalInfo(a, b pgp.KeyInfo) bool { return diffInfo(a, b) == "" }

func diffInfo(a, b pgp.KeyInfo) string {
	if a.Fingerprint != b.Fingerprint || a.Algorithm != b.Algorithm || !a.Created.Equal(b.Created) ||
		!a.Expires.Equal(b.Expires) || a.Revoked != b.Revoked || !a.RevokedAt.Equal(b.RevokedAt) ||
		a.Capabilities != b.Capabilities || a.Secret != b.Secret {
		return fmt.Sprintf("primary: %s %s %v %v revoked=%v at %v %s secret=%v; vs %s %s %v %v revoked=%v at %v %s secret=%v",
			a.Fingerprint, a.Algorithm, a.Created, a.Expires, a.Revoked, a.RevokedAt, a.Capabilities, a.Secret,
			b.Fingerprint, b.Algorithm, b.Created, b.Expires, b.Revoked, b.RevokedAt, b.Capabilities, b.Secret)
	}
	if fmt.Sprint(a.UserIDs) != fmt.Sprint(b.UserIDs) {
		return fmt.Sprintf("user IDs %q vs %q", a.UserIDs, b.UserIDs)
	}
	if len(a.Subkeys) != len(b.Subkeys) {
		return fmt.Sprintf("%d vs %d subkeys", len(a.Subkeys), len(b.Subkeys))
	}
	for i := range a.Subkeys {
		x, y := a.Subkeys[i], b.Subkeys[i]
		if x.Fingerprint != y.Fingerprint || x.Algorithm != y.Algorithm || !x.Created.Equal(y.Created) ||
			!x.Expires.Equal(y.Expires) || x.Revoked != y.Revoked || x.Capabilities != y.Capabilities {
			return fmt.Sprintf("subkey %d: %+v vs %+v", i, x, y)
		}
	}
	return ""
}

func (s *suite) vectorKeys(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	for _, c := range []struct{ name, fpr, uid string }{
		{"alice", AliceFpr, "xmpp:alice@localhost"},
		{"bob", BobFpr, "xmpp:bob@localhost"},
		{"carol", CarolFpr, "xmpp:carol@localhost"},
	} {
		ks := importData(t, b, VectorFile(t, c.name+".secret.asc"))
		if len(ks) != 1 || ks[0].Fingerprint.String() != c.fpr || !ks[0].Secret {
			t.Fatalf("%s: %+v", c.name, ks)
		}
		k := ks[0]
		if len(k.UserIDs) != 1 || k.UserIDs[0] != c.uid {
			t.Errorf("%s: user IDs %q", c.name, k.UserIDs)
		}
		if k.Algorithm != "ed25519" || len(k.Subkeys) != 1 || !k.Subkeys[0].Capabilities.Encrypt || k.Subkeys[0].Algorithm != "cv25519" {
			t.Errorf("%s: %s, subkeys %+v", c.name, k.Algorithm, k.Subkeys)
		}
	}
	// carol's gpg-made key expires after 3 years; go-sendxmpp's never do.
	k, err := b.Key(ctx, mustFpr(t, CarolFpr))
	if err != nil {
		t.Fatal(err)
	}
	if k.Expires.IsZero() || k.Expires.Sub(k.Created) < 3*364*24*time.Hour {
		t.Errorf("carol expires %v, created %v", k.Expires, k.Created)
	}
	if k, err := b.Key(ctx, mustFpr(t, AliceFpr)); err != nil || !k.Expires.IsZero() {
		t.Errorf("alice expires %v, %v", k.Expires, err)
	}
}

// Every captured message decrypts with its recipient's secret key alone
// (plus the sender's certificate), and its signature verifies; the
// plaintext is the sender's <signcrypt/> byte for byte.
func (s *suite) vectorMessages(t *testing.T) {
	for _, c := range []struct{ scenario, recipient, sender, senderFpr string }{
		{"s02-gosendxmpp-to-gosendxmpp", "bob", "alice", AliceFpr},
		{"s03-gosendxmpp-offline-delivery", "bob", "alice", AliceFpr},
		{"s05-gosendxmpp-to-profanity", "carol", "alice", AliceFpr},
		{"s06-profanity-to-gosendxmpp", "alice", "carol", CarolFpr},
		{"s07-xmppc-to-gosendxmpp", "alice", "bob", BobFpr},
		{"s08-xmppc-to-profanity", "carol", "bob", BobFpr},
		{"s09-profanity-to-gosendxmpp", "bob", "carol", CarolFpr},
		{"s10-shared-key-gosendxmpp-profanity", "alice", "carol", CarolFpr},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			t.Parallel()
			b := s.new(t)
			importData(t, b, VectorFile(t, c.recipient+".secret.asc"))
			importData(t, b, VectorFile(t, c.sender+".public.asc"))
			o, err := b.Open(context.Background(), VectorMessage(t, c.scenario+".message-1.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if want := VectorFile(t, c.scenario+".message-1.signcrypt.xml"); !bytes.Equal(o.Plaintext, want) {
				t.Errorf("plaintext:\n got %q\nwant %q", o.Plaintext, want)
			}
			if !o.Encrypted || !o.Signed || o.SignatureErr != nil {
				t.Fatalf("encrypted=%v signed=%v signature error %v", o.Encrypted, o.Signed, o.SignatureErr)
			}
			if o.Signer == nil || o.Signer.Fingerprint.String() != c.senderFpr {
				t.Fatalf("signer %+v, want %s", o.Signer, c.senderFpr)
			}
			if !o.Signer.HasUserID(mustJID(t, c.sender+"@localhost")) {
				t.Errorf("signer user IDs %v lack xmpp:%s@localhost", o.Signer.UserIDs, c.sender)
			}
			vectorTime := time.Date(2026, 11, 26, 11, 31, 0, 0, time.UTC)
			if d := vectorTime.Sub(o.SignatureTime); d < 0 || d > 5*time.Minute {
				t.Errorf("signature time %v, not shortly before %v", o.SignatureTime, vectorTime)
			}
			if o.SignerKeyID != o.Signer.Fingerprint.KeyID() {
				t.Errorf("signer key ID %X, want the primary key's %X", o.SignerKeyID, o.Signer.Fingerprint.KeyID())
			}
			if len(o.EncryptedTo) != 2 {
				t.Errorf("encrypted to %d keys, want 2 (recipient and self)", len(o.EncryptedTo))
			}
		})
	}
}

func (s *suite) exportMinimalAndImport(t *testing.T) {
	ctx := context.Background()
	a, b := s.new(t), s.new(t)
	k := generate(t, a, "alice@example.org")
	j := mustJID(t, "alice@example.org")
	pub, err := a.ExportPublic(ctx, k.Fingerprint, &j)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pub, []byte("BEGIN PGP")) {
		t.Error("export is armored; want binary")
	}
	ins, err := b.Inspect(ctx, pub)
	if err != nil || len(ins) != 1 {
		t.Fatalf("inspect: %v %v", ins, err)
	}
	ks := importData(t, b, pub)
	if len(ks) != 1 {
		t.Fatalf("imported %d keys", len(ks))
	}
	want := k
	want.Secret = false
	for name, got := range map[string]pgp.KeyInfo{"import": ks[0], "inspect": ins[0]} {
		if d := diffInfo(got, want); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
	if got, err := b.Key(ctx, k.Fingerprint); err != nil || !equalInfo(got, want) {
		t.Errorf("Key: %+v %v", got, err)
	}
	found, err := b.Lookup(ctx, j)
	if err != nil || len(found) != 1 || found[0].Fingerprint != k.Fingerprint || found[0].Secret {
		t.Errorf("lookup: %+v %v", found, err)
	}
	if sks, err := b.SecretKeys(ctx); err != nil || len(sks) != 0 {
		t.Errorf("a certificate counts as own key: %v %v", sks, err)
	}
	// Armored input imports too, and importing again changes nothing.
	if ks, err := b.Import(ctx, armorKey(pub)); err != nil || len(ks) != 1 || !equalInfo(ks[0], want) {
		t.Errorf("armored import: %+v %v", ks, err)
	}
	full, err := a.ExportPublic(ctx, k.Fingerprint, nil)
	if err != nil || len(full) == 0 {
		t.Fatalf("full export: %v", err)
	}
	other := mustJID(t, "nobody@example.org")
	if _, err := a.ExportPublic(ctx, k.Fingerprint, &other); !errors.Is(err, pgp.ErrUnsupportedKey) {
		t.Errorf("export for a JID the key lacks: %v, want ErrUnsupportedKey", err)
	}
}

// A GnuPG user's key, with an e-mail user ID besides the xmpp: one and a
// third-party certification, is exported with the xmpp: user ID alone.
func (s *suite) minimalExport(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "xmpp:gpguser@example.org", time.Now().Add(-time.Hour), 0)
	if err := f.e.AddUserId("Gpg User", "", "gpguser@example.org", f.cfg); err != nil {
		t.Fatal(err)
	}
	friend := newFixture(t, "xmpp:friend@example.org", time.Now().Add(-time.Hour), 0)
	if err := f.e.SignIdentity("xmpp:gpguser@example.org", friend.e, friend.cfg); err != nil {
		t.Fatal(err)
	}
	b, other := s.new(t), s.new(t)
	ks := importData(t, b, f.secret(t))
	if len(ks) != 1 || len(ks[0].UserIDs) != 2 {
		t.Fatalf("imported %+v", ks)
	}
	j := mustJID(t, "gpguser@example.org")
	min, err := b.ExportPublic(ctx, f.fpr(), &j)
	if err != nil {
		t.Fatal(err)
	}
	full, err := b.ExportPublic(ctx, f.fpr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(min) >= len(full) {
		t.Errorf("minimal export %d bytes, full %d", len(min), len(full))
	}
	got := importData(t, other, min)
	if len(got) != 1 || fmt.Sprint(got[0].UserIDs) != "[xmpp:gpguser@example.org]" || len(got[0].Subkeys) != 1 {
		t.Fatalf("minimal export holds %+v", got)
	}
	if n := countSignatures(t, min); n != 2 {
		t.Errorf("minimal export has %d signatures, want 2 (the user ID's self-signature and the subkey binding)", n)
	}
}

func (s *suite) sealOpen(t *testing.T) {
	alice, bob, af, bf := pair(t, s.new, s.new)
	runMessages(t, alice, bob, af, bf)
}

// runMessages sends from alice to bob each kind of message.
func runMessages(t *testing.T, alice, bob pgp.Backend, af, bf pgp.Fingerprint) {
	ctx := context.Background()
	msg := []byte("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='bob@example.org'/></signcrypt>")
	ct := seal(t, alice, msg, af, bf, af)
	o := openGood(t, bob, ct, msg, af, true)
	bk, err := bob.Key(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := alice.Key(ctx, af)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(subkeyIDs(bk, true), subkeyIDs(ak, true)...); !sameIDs(o.EncryptedTo, want) {
		t.Errorf("encrypted to %X, want %X", o.EncryptedTo, want)
	}
	if o.SignerKeyID != af.KeyID() {
		t.Errorf("signer key ID %X, want %X", o.SignerKeyID, af.KeyID())
	}
	openGood(t, alice, ct, msg, af, true) // to self
	// Sign only (<sign/>), encrypt only (<crypt/>).
	openGood(t, bob, seal(t, alice, msg, af), msg, af, false)
	openGood(t, bob, seal(t, alice, msg, pgp.Fingerprint{}, bf), msg, pgp.Fingerprint{}, true)
	// An empty message is a message.
	openGood(t, bob, seal(t, alice, []byte{}, af, bf), []byte{}, af, true)
	if _, err := alice.Seal(ctx, msg, pgp.SealOptions{}); err == nil {
		t.Error("sealed with neither signer nor recipient")
	}
}

func (s *suite) tampered(t *testing.T) {
	ctx := context.Background()
	alice, bob, af, bf := pair(t, s.new, s.new)
	msg := []byte("hello")
	ct := seal(t, alice, msg, af, bf)
	bad := bytes.Clone(ct)
	bad[len(bad)-5] ^= 0x40
	if _, err := bob.Open(ctx, bad); !errors.Is(err, pgp.ErrTampered) {
		t.Errorf("changed body: %v, want ErrTampered", err)
	}
	// No flipped byte may give a changed message that looks fine: it fails
	// to open, its signature fails, or (for bits no one reads, like an
	// MPI's bit count) the genuine message comes out. A sample of the
	// positions, for a backend that runs a program per message.
	step := len(ct)/40 + 1
	for i := 0; i < len(ct); i += step {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		o, err := bob.Open(ctx, bad)
		if err == nil && o.SignatureErr == nil && (!bytes.Equal(o.Plaintext, msg) || o.Signer == nil || o.Signer.Fingerprint != af) {
			t.Fatalf("flipping byte %d of %d gave %q signed by %v", i, len(ct), o.Plaintext, o.Signer)
		}
		if err != nil && o != nil {
			t.Fatalf("byte %d: both a result and an error (%v)", i, err)
		}
	}
	// A signed message whose text was changed: the signature fails.
	signed := seal(t, alice, []byte("pay bob 10"), af)
	i := bytes.Index(signed, []byte("10"))
	if i < 0 {
		t.Fatal("plaintext not found in the signed message (compressed?)")
	}
	forged := bytes.Clone(signed)
	forged[i] = '9'
	o, err := bob.Open(ctx, forged)
	var se *pgp.SignatureError
	if err == nil && (!errors.As(o.SignatureErr, &se) || se.Unknown) {
		t.Errorf("changed signed text: %+v, want a failed signature", o)
	}
}

func (s *suite) notForMe(t *testing.T) {
	ctx := context.Background()
	alice, bob, af, bf := pair(t, s.new, s.new)
	ct := seal(t, alice, []byte("hello"), af, bf)
	carol := s.new(t)
	generate(t, carol, "carol@example.org")
	_, err := carol.Open(ctx, ct)
	var nd *pgp.NoDecryptionKeyError
	bk, _ := bob.Key(ctx, bf)
	if !errors.As(err, &nd) || !sameIDs(nd.KeyIDs, subkeyIDs(bk, true)) {
		t.Errorf("got %v, want NoDecryptionKeyError for %X", err, subkeyIDs(bk, true))
	}
}

func (s *suite) unknownSigner(t *testing.T) {
	ctx := context.Background()
	_, bob, _, bf := pair(t, s.new, s.new)
	dave := s.new(t)
	dk := generate(t, dave, "dave@example.org")
	exchange(t, bob, dave, bf, "bob@example.org")
	msg := []byte("hello")
	for name, ct := range map[string][]byte{
		"signcrypt": seal(t, dave, msg, dk.Fingerprint, bf),
		"sign":      seal(t, dave, msg, dk.Fingerprint),
	} {
		o, err := bob.Open(ctx, ct)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var se *pgp.SignatureError
		if !o.Signed || !errors.As(o.SignatureErr, &se) || !se.Unknown || se.KeyID != dk.Fingerprint.KeyID() || o.Signer != nil {
			t.Errorf("%s: %+v, want an unknown-signer SignatureError for %X", name, o, dk.Fingerprint.KeyID())
		}
		if !bytes.Equal(o.Plaintext, msg) || o.SignerKeyID != dk.Fingerprint.KeyID() {
			t.Errorf("%s: plaintext %q, signer key ID %X", name, o.Plaintext, o.SignerKeyID)
		}
		if d := time.Since(o.SignatureTime); d < -time.Minute || d > 10*time.Minute {
			t.Errorf("%s: signature time %v", name, o.SignatureTime)
		}
	}
}

// A key that has expired is not encrypted to, nor signed with, and says so.
func (s *suite) expired(t *testing.T) {
	ctx := context.Background()
	old := newFixture(t, "xmpp:old@example.org", time.Now().Add(-48*time.Hour), 24*time.Hour)
	b := s.new(t)
	me := generate(t, b, "me@example.org")
	ks := importData(t, b, old.public(t))
	if len(ks) != 1 || !ks[0].Expired(time.Now()) || ks[0].Revoked {
		t.Fatalf("imported %+v", ks)
	}
	if err := ks[0].Usable(time.Now()); err == nil {
		t.Error("an expired key is usable")
	}
	if found, err := b.Lookup(ctx, mustJID(t, "old@example.org")); err != nil || len(found) != 1 {
		t.Errorf("lookup returns unusable keys too: %v %v", found, err)
	}
	_, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{old.fpr()}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonExpired || ue.Fingerprint != old.fpr() {
		t.Errorf("encrypting to an expired key: %v", err)
	}
	late := s.new(t)
	importData(t, late, old.secret(t))
	exchange(t, b, late, me.Fingerprint, "me@example.org")
	_, err = late.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: old.fpr(), Recipients: []pgp.Fingerprint{me.Fingerprint}})
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonExpired {
		t.Errorf("signing with an expired key: %v", err)
	}
}

// A message signed while the key was valid is good after the key expired
// (an offline message read late); the receiver checks judge the times.
func (s *suite) signedBeforeExpiry(t *testing.T) {
	created := time.Now().Add(-48 * time.Hour)
	old := newFixture(t, "xmpp:old@example.org", created, 24*time.Hour)
	b := s.new(t)
	importData(t, b, old.public(t))
	msg := []byte("from yesterday")
	o, err := b.Open(context.Background(), old.sign(t, msg, created.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o.Plaintext, msg) || !o.Signed || o.SignatureErr != nil || o.Signer == nil || o.Signer.Fingerprint != old.fpr() {
		t.Errorf("%+v", o)
	}
	if !o.SignatureTime.Equal(created.Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("signature time %v, want %v", o.SignatureTime, created.Add(time.Hour))
	}
}

func (s *suite) revoked(t *testing.T) {
	ctx := context.Background()
	created := time.Now().Add(-time.Hour)
	f := newFixture(t, "xmpp:rev@example.org", created, 0)
	before := f.public(t)
	revoked := f.revoked(t)
	signed := f.sign(t, []byte("signed before the revocation"), created.Add(time.Second))
	b := s.new(t)
	me := generate(t, b, "me@example.org")
	for _, data := range [][]byte{before, revoked, before} { // the old copy again must not un-revoke
		importData(t, b, data)
	}
	k, err := b.Key(ctx, f.fpr())
	if err != nil || !k.Revoked {
		t.Fatalf("revocation lost: %+v %v", k, err)
	}
	if want := created.Add(time.Minute).Truncate(time.Second); !k.RevokedAt.Equal(want) {
		t.Errorf("revoked at %v, want %v", k.RevokedAt, want)
	}
	if fmt.Sprint(k.UserIDs) != "[xmpp:rev@example.org]" || len(k.Subkeys) != 1 || k.Subkeys[0].Revoked {
		t.Errorf("a key revocation is not a user ID's or a subkey's: %+v", k)
	}
	ins, err := s.new(t).Inspect(ctx, revoked)
	if err != nil || len(ins) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if d := diffInfo(ins[0], k); d != "" {
		t.Errorf("inspect and import differ: %s", d)
	}
	_, err = b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{f.fpr()}})
	var ue *pgp.KeyUnusableError
	if !errors.As(err, &ue) || ue.Reason != pgp.ReasonRevoked {
		t.Errorf("encrypting to a revoked key: %v", err)
	}
	o, err := b.Open(ctx, signed)
	var se *pgp.SignatureError
	if err != nil || !errors.As(o.SignatureErr, &se) || se.Unknown || o.Signer == nil || !o.Signer.Revoked {
		t.Errorf("signed by a key revoked as compromised: %+v %v, want a SignatureError", o, err)
	}
	// The revocation travels in the minimal export.
	j := mustJID(t, "rev@example.org")
	min, err := b.ExportPublic(ctx, f.fpr(), &j)
	if err != nil {
		t.Fatal(err)
	}
	if got := importData(t, s.new(t), min); len(got) != 1 || !got[0].Revoked {
		t.Errorf("the minimal export lost the revocation: %+v", got)
	}
}

// Several encryption subkeys (one per device) are all encrypted to, and
// each device opens the message.
func (s *suite) severalSubkeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "xmpp:multi@example.org", time.Now().Add(-time.Hour), 0)
	if err := f.e.AddEncryptionSubkey(f.cfg); err != nil {
		t.Fatal(err)
	}
	b := s.new(t)
	me := generate(t, b, "me@example.org")
	ks := importData(t, b, f.public(t))
	if len(ks) != 1 || len(ks[0].Subkeys) != 2 {
		t.Fatalf("imported %+v", ks)
	}
	msg := []byte("to every device")
	ct := seal(t, b, msg, me.Fingerprint, ks[0].Fingerprint, me.Fingerprint)
	o, err := b.Open(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(subkeyIDs(ks[0], true), subkeyIDs(me, true)...); !sameIDs(o.EncryptedTo, want) {
		t.Errorf("encrypted to %X, want %X (two devices and self)", o.EncryptedTo, want)
	}
	holder := s.new(t)
	importData(t, holder, f.secret(t))
	exchange(t, b, holder, me.Fingerprint, "me@example.org")
	openGood(t, holder, ct, msg, me.Fingerprint, true)
}

// A GnuPG user's key often signs with a subkey: the signer is the key, and
// SignerKeyID the subkey's.
func (s *suite) signingSubkey(t *testing.T) {
	f := newFixture(t, "xmpp:signer@example.org", time.Now().Add(-time.Hour), 0)
	if err := f.e.AddSigningSubkey(f.cfg); err != nil {
		t.Fatal(err)
	}
	a, b := s.new(t), s.new(t)
	ks := importData(t, a, f.secret(t))
	importData(t, b, f.public(t))
	bk := generate(t, b, "bob@example.org")
	exchange(t, b, a, bk.Fingerprint, "bob@example.org")
	var signing pgp.Subkey
	for _, sub := range ks[0].Subkeys {
		if sub.Capabilities.Sign {
			signing = sub
		}
	}
	if signing.Fingerprint.IsZero() || signing.Capabilities.Encrypt {
		t.Fatalf("no signing subkey in %+v", ks[0].Subkeys)
	}
	msg := []byte("signed by a subkey")
	for _, encrypt := range []bool{false, true} {
		var to []pgp.Fingerprint
		if encrypt {
			to = []pgp.Fingerprint{bk.Fingerprint}
		}
		o := openGood(t, b, seal(t, a, msg, f.fpr(), to...), msg, f.fpr(), encrypt)
		if o.SignerKeyID != signing.Fingerprint.KeyID() {
			t.Errorf("encrypted=%v: signer key ID %X, want the signing subkey's %X", encrypt, o.SignerKeyID, signing.Fingerprint.KeyID())
		}
	}
}

func (s *suite) inspect(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	for _, name := range []string{"carol.public.asc", "carol.secret.asc"} {
		ks, err := b.Inspect(ctx, VectorFile(t, name))
		if err != nil || len(ks) != 1 || ks[0].Fingerprint.String() != CarolFpr || fmt.Sprint(ks[0].UserIDs) != "[xmpp:carol@localhost]" {
			t.Fatalf("%s: %+v %v", name, ks, err)
		}
		if ks[0].Secret != (name == "carol.secret.asc") {
			t.Errorf("%s: secret = %v", name, ks[0].Secret)
		}
	}
	two, err := b.Inspect(ctx, append(VectorFile(t, "alice.public.asc"), VectorFile(t, "bob.public.asc")...))
	if err != nil || len(two) != 2 {
		t.Errorf("two blocks: %d %v", len(two), err)
	}
	if all, err := b.List(ctx); err != nil || len(all) != 0 {
		t.Errorf("inspect stored %d keys (%v)", len(all), err)
	}
	if _, err := b.Key(ctx, mustFpr(t, CarolFpr)); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("inspect stored carol: %v", err)
	}
	if ks, err := b.Lookup(ctx, mustJID(t, "carol@localhost")); err != nil || len(ks) != 0 {
		t.Errorf("lookup after inspect: %v %v", ks, err)
	}
	if _, err := b.Inspect(ctx, []byte("not a key")); !errors.Is(err, pgp.ErrMalformed) {
		t.Errorf("inspect garbage: %v", err)
	}
}

func (s *suite) malformed(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	importData(t, b, VectorFile(t, "bob.secret.asc"))
	for _, in := range [][]byte{nil, []byte("hello"), {0xff, 0xff, 0xff}, VectorFile(t, "alice.public.asc"), armorMessage(VectorMessage(t, "s02-gosendxmpp-to-gosendxmpp.message-1.xml"))} {
		o, err := b.Open(ctx, in)
		if !errors.Is(err, pgp.ErrMalformed) || o != nil {
			t.Errorf("open %.20q: %v, want ErrMalformed", in, err)
		}
	}
	for _, in := range [][]byte{nil, []byte("hello"), []byte("-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n"), VectorMessage(t, "s02-gosendxmpp-to-gosendxmpp.message-1.xml")} {
		if _, err := b.Import(ctx, in); !errors.Is(err, pgp.ErrMalformed) {
			t.Errorf("import %.20q: %v, want ErrMalformed", in, err)
		}
	}
}

func (s *suite) importMerges(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	importData(t, b, VectorFile(t, "alice.secret.asc"))
	// A public copy arriving later (from PEP, say) must not drop the secret.
	importData(t, b, VectorFile(t, "alice.public.asc"))
	k, err := b.Key(ctx, mustFpr(t, AliceFpr))
	if err != nil || !k.Secret {
		t.Fatalf("secret lost: %+v %v", k, err)
	}
	if sks, err := b.SecretKeys(ctx); err != nil || len(sks) != 1 || sks[0].Fingerprint != k.Fingerprint {
		t.Fatalf("secret keys: %+v %v", sks, err)
	}
	two := append(VectorFile(t, "bob.public.asc"), VectorFile(t, "carol.public.asc")...)
	if ks, err := b.Import(ctx, two); err != nil || len(ks) != 2 || ks[0].Fingerprint.String() != BobFpr || ks[1].Fingerprint.String() != CarolFpr {
		t.Fatalf("two blocks: %+v %v", ks, err)
	}
	bin, err := b.ExportPublic(ctx, mustFpr(t, BobFpr), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := s.new(t).Import(ctx, bin); err != nil || len(ks) != 1 {
		t.Fatalf("binary: %v", err)
	}
	if all, err := b.List(ctx); err != nil || len(all) != 3 {
		t.Errorf("list: %d %v", len(all), err)
	}
	// The own key, exported secret and imported elsewhere, works there.
	sec, err := b.ExportSecret(ctx, k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	other := s.new(t)
	if ks, err := other.Import(ctx, sec); err != nil || len(ks) != 1 || !ks[0].Secret {
		t.Fatalf("secret export: %+v %v", ks, err)
	}
	msg := []byte("restored")
	openGood(t, other, seal(t, b, msg, k.Fingerprint, k.Fingerprint), msg, k.Fingerprint, true)
	if _, err := b.ExportSecret(ctx, mustFpr(t, BobFpr)); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("secret export of a certificate: %v", err)
	}
}

func (s *suite) tooLarge(t *testing.T) {
	alice, bob, af, bf := pair(t, s.new, s.new)
	big := bytes.Repeat([]byte("x"), 1<<20+1)
	for name, ct := range map[string][]byte{
		"signcrypt": seal(t, alice, big, af, bf),
		"crypt":     seal(t, alice, big, pgp.Fingerprint{}, bf),
	} {
		if o, err := bob.Open(context.Background(), ct); !errors.Is(err, pgp.ErrTooLarge) || o != nil {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
	}
	fits := bytes.Repeat([]byte("y"), 1<<20)
	openGood(t, bob, seal(t, alice, fits, af, bf), fits, af, true)
}

func (s *suite) notFound(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	me := generate(t, b, "me@example.org")
	nobody := mustFpr(t, CarolFpr)
	if _, err := b.Key(ctx, nobody); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("Key: %v", err)
	}
	if _, err := b.Key(ctx, me.Subkeys[0].Fingerprint); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("Key of a subkey's fingerprint: %v", err)
	}
	if _, err := b.ExportPublic(ctx, nobody, nil); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("ExportPublic: %v", err)
	}
	if _, err := b.ExportSecret(ctx, nobody); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("ExportSecret: %v", err)
	}
	if _, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{nobody}}); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("Seal to an unknown key: %v", err)
	}
	if _, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: nobody, Recipients: []pgp.Fingerprint{me.Fingerprint}}); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("Seal by an unknown key: %v", err)
	}
	importData(t, b, VectorFile(t, "bob.public.asc"))
	if _, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: mustFpr(t, BobFpr)}); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("Seal signed by a certificate: %v", err)
	}
	if ks, err := b.Lookup(ctx, mustJID(t, "nobody@example.org")); err != nil || len(ks) != 0 {
		t.Errorf("Lookup of nobody: %v %v", ks, err)
	}
}

// Lookup compares user IDs as normalised bare JIDs, whole.
func (s *suite) lookup(t *testing.T) {
	ctx := context.Background()
	b := s.new(t)
	now := time.Now().Add(-time.Hour)
	for _, uid := range []string{"xmpp:Alice@Example.ORG", "xmpp:alice@example.org.evil", "xmpp:malice@example.org", "alice@example.org", "xmpp:alice@example.org/phone"} {
		importData(t, b, newFixture(t, uid, now, 0).public(t))
	}
	ks, err := b.Lookup(ctx, mustJID(t, "alice@example.org/phone"))
	if err != nil || len(ks) != 1 || fmt.Sprint(ks[0].UserIDs) != "[xmpp:Alice@Example.ORG]" {
		t.Errorf("lookup: %+v %v", ks, err)
	}
}

func armorKey(bin []byte) []byte { return armored("PGP PUBLIC KEY BLOCK", bin) }

func armorMessage(bin []byte) []byte { return armored("PGP MESSAGE", bin) }

// bomb: a signed and encrypted message whose compressed literal data
// inflates far beyond the limit (16 MiB of zeros in a few KiB) is "too
// large", as a message sent uncompressed over the limit is, not "damaged"
// (issue 12: the embedded backend said tampered).
func (s *suite) bomb(t *testing.T) {
	alice, bob, af, bf := pair(t, s.new, s.new)
	ctx := context.Background()
	sec, err := alice.ExportSecret(ctx, af)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bob.ExportPublic(ctx, bf, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := compressedMessage(t, sec, pub, 16<<20)
	if len(ct) > 64<<10 {
		t.Fatalf("the bomb is %d bytes: not compressed", len(ct))
	}
	if o, err := bob.Open(ctx, ct); !errors.Is(err, pgp.ErrTooLarge) || o != nil {
		t.Errorf("a decompression bomb: %v, want ErrTooLarge", err)
	}
}
