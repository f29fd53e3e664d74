package native_test

// Benchmarks of the message path as ox runs it (issue 5), each beside its
// baselines in the same run:
//
//	BenchmarkSeal/ox        text -> <signcrypt/> -> Seal (to the contact and to self) -> <openpgp/>
//	BenchmarkSeal/gocrypto  go-crypto's encrypt+sign alone, on the same plaintext bytes and keys
//	BenchmarkSeal/floor     the primitives that work needs, one after the other on one core:
//	                        two X25519 key agreements (ephemeral key + shared secret), one
//	                        Ed25519 signature, AES (benchFloor)
//	BenchmarkSeal/gpg       one gpg process per message (gpg_bench_test.go)
//
// and the same for BenchmarkOpen: <openpgp/> -> Open (decrypt + verify) ->
// check.Message (every receiver check, the announcement from the store
// included) -> body; BenchmarkOpen/ox-backend is Backend.Open alone.
// `go run ./bench` prints the ratios.
//
// Expensive set-up happens inside the benchmark functions only, so `go
// test` without -bench stays fast.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/cloudflare/circl/dh/x25519"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// benchText is a short chat message, as in the issue.
const benchText = "Hi Bob! This is OX: signed, encrypted to you and to me, checked."

// benchParty is one account: its store, backend and own key.
type benchParty struct {
	jid jid.JID
	st  *store.Store
	b   *native.Backend
	fpr pgp.Fingerprint
}

// benchNewParty opens a fresh store in dir and makes a key for local@example.org.
func benchNewParty(tb testing.TB, dir, local string) *benchParty {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "ox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return benchPartyOn(tb, st, local, true)
}

// benchPartyOn makes a party over an open store; with keygen it makes its key.
func benchPartyOn(tb testing.TB, st *store.Store, local string, keygen bool) *benchParty {
	tb.Helper()
	j, err := jid.Parse(local + "@example.org")
	if err != nil {
		tb.Fatal(err)
	}
	p := &benchParty{jid: j, st: st, b: native.New(st)}
	if keygen {
		k, err := p.b.Generate(context.Background(), j, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
		if err != nil {
			tb.Fatal(err)
		}
		p.fpr = k.Fingerprint
	}
	return p
}

// benchIntroduce gives to the minimal public key of from, and records it as
// announced, as a fetch over PEP would.
func benchIntroduce(tb testing.TB, from, to *benchParty) {
	tb.Helper()
	ctx := context.Background()
	pub, err := from.b.ExportPublic(ctx, from.fpr, &from.jid)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := to.b.Import(ctx, pub); err != nil {
		tb.Fatal(err)
	}
	if err := to.st.SetAnnouncements(ctx, from.jid.String(), "current", []store.Announcement{{Fingerprint: from.fpr.String()}}, time.Now()); err != nil {
		tb.Fatal(err)
	}
}

// benchPair is alice and bob, each knowing the other's key.
func benchPair(tb testing.TB) (alice, bob *benchParty) {
	tb.Helper()
	alice = benchNewParty(tb, tb.TempDir(), "alice")
	bob = benchNewParty(tb, tb.TempDir(), "bob")
	benchIntroduce(tb, alice, bob)
	benchIntroduce(tb, bob, alice)
	return alice, bob
}

// benchSeal is what ox.Client.Send does with the text, up to the
// <openpgp/> element: the <signcrypt/> content, sealed to the recipient's
// keys and the account's own.
func benchSeal(ctx context.Context, from *benchParty, to jid.JID, recipients []pgp.Fingerprint, text string) ([]byte, error) {
	c, err := element.NewContent(element.KindSigncrypt, []jid.JID{to}, time.Now(), element.BodyPayload(text))
	if err != nil {
		return nil, err
	}
	plain, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	ct, err := from.b.Seal(ctx, plain, pgp.SealOptions{Signer: from.fpr, Recipients: recipients})
	if err != nil {
		return nil, err
	}
	return element.MarshalOpenPGP(ct), nil
}

// benchReceive is what ox.Client.Receive does with an <openpgp/> element:
// decode, decrypt and verify, then every receiver check, with the
// signer's announcement looked up in the store as the client does.
func benchReceive(ctx context.Context, to *benchParty, sender jid.JID, wire []byte, delivered time.Time) (string, error) {
	raw, err := element.ParseOpenPGP(wire)
	if err != nil {
		return "", err
	}
	o, err := to.b.Open(ctx, raw)
	if err != nil {
		return "", err
	}
	return benchCheck(ctx, to, o, sender, delivered)
}

// benchCheck runs every receiver check on an opened message, as the
// client does (the signer's announcement from the store), and returns the
// body.
func benchCheck(ctx context.Context, to *benchParty, o *pgp.Opened, sender jid.JID, delivered time.Time) (string, error) {
	v, err := check.Message(check.Input{Opened: o, Sender: sender, Recipient: to.jid, Delivered: delivered}, check.Options{
		Announced: func(j jid.JID, f pgp.Fingerprint) bool {
			ok, _ := to.st.IsAnnounced(ctx, j.String(), f.String())
			return ok
		},
	})
	if err != nil {
		return "", err
	}
	body, _ := v.Content.Body()
	return body, nil
}

// benchGoCryptoConfig is the packet.Config the native backend uses, for
// the bare go-crypto baselines.
func benchGoCryptoConfig() *packet.Config {
	return &packet.Config{
		Algorithm:              packet.PubKeyAlgoEdDSA,
		Curve:                  packet.Curve25519,
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
}

// benchEntity parses a binary key with go-crypto alone.
func benchEntity(tb testing.TB, data []byte) *openpgp.Entity {
	tb.Helper()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// benchBareKeys returns the same keys as held by go-crypto alone: p's secret
// key and the other party's public key.
func benchBareKeys(tb testing.TB, p, other *benchParty) (own, contact *openpgp.Entity) {
	tb.Helper()
	ctx := context.Background()
	sec, err := p.b.ExportSecret(ctx, p.fpr)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := other.b.ExportPublic(ctx, other.fpr, &other.jid)
	if err != nil {
		tb.Fatal(err)
	}
	return benchEntity(tb, sec), benchEntity(tb, pub)
}

func benchPlaintext(tb testing.TB, to jid.JID) []byte {
	tb.Helper()
	c, err := element.NewContent(element.KindSigncrypt, []jid.JID{to}, time.Now(), element.BodyPayload(benchText))
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := c.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return plain
}

func bareEncrypt(plain []byte, to []*openpgp.Entity, signer *openpgp.Entity, cfg *packet.Config) ([]byte, error) {
	var out bytes.Buffer
	w, err := openpgp.EncryptWithParams(&out, to, nil, &openpgp.EncryptParams{Signers: []*openpgp.Entity{signer}, Config: cfg})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// BenchmarkSeal: a short chat message to one contact (and to self).
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	b.Run("ox", func(b *testing.B) {
		alice, bob := benchPair(b)
		rcpt := []pgp.Fingerprint{bob.fpr, alice.fpr}
		wire, err := benchSeal(ctx, alice, bob.jid, rcpt, benchText)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := benchSeal(ctx, alice, bob.jid, rcpt, benchText); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(len(wire)), "B/element")
	})
	b.Run("gocrypto", func(b *testing.B) {
		alice, bob := benchPair(b)
		own, contact := benchBareKeys(b, alice, bob)
		cfg := benchGoCryptoConfig()
		plain := benchPlaintext(b, bob.jid)
		to := []*openpgp.Entity{contact, own}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := bareEncrypt(plain, to, own, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		f := newBenchFloor(b, 2, len(benchPlaintext(b, jid.MustParse("bob@example.org"))))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.seal()
		}
	})
	b.Run("gpg", benchSealGPG)
}

// BenchmarkOpen: the receiving side of BenchmarkSeal.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	b.Run("ox", func(b *testing.B) {
		alice, bob := benchPair(b)
		wire, err := benchSeal(ctx, alice, bob.jid, []pgp.Fingerprint{bob.fpr, alice.fpr}, benchText)
		if err != nil {
			b.Fatal(err)
		}
		delivered := time.Now()
		if body, err := benchReceive(ctx, bob, alice.jid, wire, delivered); err != nil || body != benchText {
			b.Fatalf("receive: %q, %v", body, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := benchReceive(ctx, bob, alice.jid, wire, delivered); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Backend.Open alone, on the same bytes as gocrypto: where ox's time
	// goes besides the <openpgp/> element and the checks.
	b.Run("ox-backend", func(b *testing.B) {
		alice, bob := benchPair(b)
		ct, err := alice.b.Seal(ctx, benchPlaintext(b, bob.jid), pgp.SealOptions{Signer: alice.fpr, Recipients: []pgp.Fingerprint{bob.fpr, alice.fpr}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			o, err := bob.b.Open(ctx, ct)
			if err != nil || o.SignatureErr != nil {
				b.Fatal(err, o.SignatureErr)
			}
		}
	})
	b.Run("gocrypto", func(b *testing.B) {
		alice, bob := benchPair(b)
		aliceOwn, aliceSees := benchBareKeys(b, alice, bob)
		bobOwn, bobSees := benchBareKeys(b, bob, alice)
		cfg := benchGoCryptoConfig()
		msg, err := bareEncrypt(benchPlaintext(b, bob.jid), []*openpgp.Entity{aliceSees, aliceOwn}, aliceOwn, cfg)
		if err != nil {
			b.Fatal(err)
		}
		kr := openpgp.EntityList{bobOwn, bobSees}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			md, err := openpgp.ReadMessage(bytes.NewReader(msg), kr, nil, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadAll(md.UnverifiedBody); err != nil || md.SignatureError != nil {
				b.Fatal(err, md.SignatureError)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		f := newBenchFloor(b, 2, len(benchPlaintext(b, jid.MustParse("bob@example.org"))))
		f.seal()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if !f.open() {
				b.Fatal("floor: the signature does not verify")
			}
		}
	})
	b.Run("gpg", benchOpenGPG)
}

// BenchmarkX25519 is one X25519 key agreement as a sender makes it per
// recipient: an ephemeral key pair and the shared secret with the
// recipient's public key, with circl's X25519 (the one go-crypto uses; the
// fastest in Go here: assembly with BMI2/ADX, about 1.5x the standard
// library's crypto/ecdh). The group benchmark compares its cost per added
// recipient with this.
func BenchmarkX25519(b *testing.B) {
	var peer, pub x25519.Key
	rand.Read(peer[:])
	x25519.KeyGen(&pub, &peer)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var eph, ephPub, shared x25519.Key
		rand.Read(eph[:])
		x25519.KeyGen(&ephPub, &eph)
		if !x25519.Shared(&shared, &eph, &pub) {
			b.Fatal("low-order point")
		}
	}
}

// benchFloor is the primitive work of an OX message, one operation after
// the other, each with the fastest implementation in Go on this machine:
// per recipient an X25519 key agreement (circl, as go-crypto) and an AES
// key wrap of the session key; one Ed25519 signature (or verification) of
// the SHA-256 digest (crypto/ed25519, a little faster than circl's); AES-256
// in CFB mode over the encrypted packets (the plaintext plus about 180
// bytes of literal-data, one-pass-signature, signature and MDC packets).
type benchFloor struct {
	recipients []x25519.Key
	own        x25519.Key
	sign       ed25519.PrivateKey
	verify     ed25519.PublicKey
	buf        []byte

	// from the last seal, for open
	eph     x25519.Key
	wrapped [40]byte
	digest  [32]byte
	sig     []byte
}

const benchPacketOverhead = 180

func newBenchFloor(tb testing.TB, recipients, plainLen int) *benchFloor {
	tb.Helper()
	f := &benchFloor{buf: make([]byte, plainLen+benchPacketOverhead)}
	for i := 0; i < recipients; i++ {
		var priv, pub x25519.Key
		rand.Read(priv[:])
		x25519.KeyGen(&pub, &priv)
		if i == 0 {
			f.own = priv
		}
		f.recipients = append(f.recipients, pub)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f.sign, f.verify = priv, pub
	rand.Read(f.buf)
	return f
}

func (f *benchFloor) seal() {
	var sk [32]byte
	rand.Read(sk[:])
	for i := range f.recipients {
		var eph, ephPub, shared x25519.Key
		rand.Read(eph[:])
		x25519.KeyGen(&ephPub, &eph)
		if !x25519.Shared(&shared, &eph, &f.recipients[i]) {
			panic("low-order point")
		}
		w := aesWrap(shared[:], sk[:])
		if i == 0 {
			f.eph, f.wrapped = ephPub, w
		}
	}
	f.digest = sha256.Sum256(f.buf)
	f.sig = ed25519.Sign(f.sign, f.digest[:])
	blk, _ := aes.NewCipher(sk[:])
	cfb(blk, f.buf, false)
}

func (f *benchFloor) open() bool {
	var shared x25519.Key
	if !x25519.Shared(&shared, &f.own, &f.eph) {
		panic("low-order point")
	}
	sk := aesUnwrap(shared[:], f.wrapped)
	blk, _ := aes.NewCipher(sk[:32])
	cfb(blk, f.buf, true)
	return ed25519.Verify(f.verify, f.digest[:], f.sig)
}

// aesWrap is RFC 3394 key wrap of the 32-byte session key plus its OpenPGP
// check bytes and padding (40 bytes, 5 blocks of 8): 30 AES block operations.
func aesWrap(kek, sk []byte) [40]byte {
	var out [40]byte
	copy(out[8:], sk)
	blk, _ := aes.NewCipher(kek)
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= 4; i++ {
			copy(b[:8], out[:8])
			copy(b[8:], out[8*i:8*i+8])
			blk.Encrypt(b[:], b[:])
			b[7] ^= byte(4*j + i)
			copy(out[:8], b[:8])
			copy(out[8*i:], b[8:])
		}
	}
	return out
}

func aesUnwrap(kek []byte, in [40]byte) [40]byte {
	blk, _ := aes.NewCipher(kek)
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := 4; i >= 1; i-- {
			copy(b[:8], in[:8])
			b[7] ^= byte(4*j + i)
			copy(b[8:], in[8*i:8*i+8])
			blk.Decrypt(b[:], b[:])
			copy(in[:8], b[:8])
			copy(in[8*i:], b[8:])
		}
	}
	return in
}

// cfb is AES in CFB mode (what SEIPDv1 uses), in place.
func cfb(blk cipher.Block, data []byte, decrypt bool) {
	var iv, ks [16]byte
	for off := 0; off < len(data); off += 16 {
		blk.Encrypt(ks[:], iv[:])
		n := copy(iv[:], data[off:])
		for i := 0; i < n; i++ {
			c := data[off+i] ^ ks[i]
			if decrypt {
				iv[i] = data[off+i]
			} else {
				iv[i] = c
			}
			data[off+i] = c
		}
	}
}
