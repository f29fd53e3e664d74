package backup

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// The real thing, once: Encrypt at the full S2K count, the packets it makes,
// and Decrypt back to alice's unprotected key.
func TestRoundTrip(t *testing.T) {
	key := aliceSecret(t)
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msg, err := Encrypt(key, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Encrypt (S2K count %d): %v", S2KCount, time.Since(start))

	// SKESK v4: AES-256, iterated and salted S2K, SHA-256, count octet 255
	// (65011712), and an encrypted session key.
	tag, body, rest, ok := nextPacket(msg)
	if !ok || tag != 3 {
		t.Fatalf("first packet: tag %d, want a SKESK (3)", tag)
	}
	if len(body) < 13 || body[0] != 4 || body[1] != 9 || body[2] != 3 || body[3] != 8 || body[12] != 255 {
		t.Fatalf("SKESK % x: want version 4, AES-256, S2K mode 3, SHA-256, count octet 255", body)
	}
	// SEIPD version 1 (MDC), not AEAD.
	if tag, _, _, ok := nextPacket(rest); !ok || tag != 18 {
		t.Fatalf("second packet: tag %d, want SEIPD (18)", tag)
	}
	if rest[0] != 0xc0|18 || len(rest) < 3 {
		t.Fatalf("SEIPD header % x", rest[:2])
	}

	start = time.Now()
	got, err := Decrypt(msg, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Decrypt (S2K count %d): %v", S2KCount, time.Since(start))
	if !bytes.Equal(got, key) {
		t.Error("Decrypt did not return the key that was encrypted")
	}
	checkAlice(t, got)
}

// Inputs and codes in their other shapes, at the low count.
func TestRoundTripShapes(t *testing.T) {
	key := aliceSecret(t)
	code := Code("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")

	// Armored key in, binary key stored.
	msg, err := encrypt(readTestdata(t, "alice.secret.asc"), code, lowCount)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(msg, code)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Error("armored input: not the binary key back")
	}

	// Armored backup; the code as typed.
	for _, typed := range []Code{"twnk-kd5y-mt3t-e1gs-drdb-kvtw", "TWNKKD5YMT3TE1GSDRDBKVTW", " twnk kd5y mt3t e1gs drdb kvtw\n"} {
		got, err := Decrypt(armored(t, "PGP MESSAGE", msg), typed)
		if err != nil {
			t.Fatalf("code %q: %v", typed, err)
		}
		checkAlice(t, got)
	}

	// A code given to Encrypt in a sloppy shape is canonicalized: the
	// passphrase is the canonical code, dashes included (XEP-0373 §5.4).
	msg, err = encrypt(key, "twnk kd5y mt3t e1gs drdb kvtw", lowCount)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decrypt(msg, "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW", defaultLimits); err != nil {
		t.Fatal(err)
	}
	checkVerbatim(t, msg, "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")

	// Two keys concatenated (XEP-0373 §5.4 step 1): both come back.
	other, err := openpgp.NewEntity("", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var two bytes.Buffer
	two.Write(key)
	if err := other.SerializePrivate(&two, nil); err != nil {
		t.Fatal(err)
	}
	msg, err = encrypt(two.Bytes(), code, lowCount)
	if err != nil {
		t.Fatal(err)
	}
	got, err = Decrypt(msg, code)
	if err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(got))
	if err != nil || len(el) != 2 {
		t.Fatalf("two keys in: %d keys out, %v", len(el), err)
	}
}

// checkVerbatim opens msg with pass as the raw passphrase (no
// canonicalization) using go-crypto directly.
func checkVerbatim(t *testing.T, msg []byte, pass string) {
	t.Helper()
	tries := 0
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), nil, func([]openpgp.Key, bool) ([]byte, error) {
		if tries++; tries > 1 {
			return nil, errors.New("wrong passphrase")
		}
		return []byte(pass), nil
	}, nil)
	if err != nil {
		t.Fatalf("go-crypto ReadMessage with passphrase %q: %v", pass, err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(md.UnverifiedBody); err != nil {
		t.Fatal(err)
	}
}

// The lab's backup, made by gpg like a backup from another client: it opens
// with its code, typed any way.
func TestDecryptGnuPGVector(t *testing.T) {
	msg, code := vector(t)
	start := time.Now()
	got, err := Decrypt(msg, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Decrypt of the gpg-made vector: %v", time.Since(start))
	checkAlice(t, got)
	// gpg wrote the packets with OpenPGP-format headers, alice.secret.asc
	// has legacy ones: compare the packets as go-crypto writes them.
	if !bytes.Equal(reserialize(t, got), reserialize(t, aliceSecret(t))) {
		t.Error("the vector does not hold alice.secret.asc")
	}
	got, err = Decrypt(armored(t, "PGP MESSAGE", msg), Code(strings.ToLower(strings.ReplaceAll(string(code), "-", " "))))
	if err != nil {
		t.Fatal(err)
	}
	checkAlice(t, got)
}

// A wrong code is ErrWrongCode, never garbage: on the vector (at its real
// count, twice), and at the low count 200 times on a backup made by Encrypt
// and 200 times on one made like gpg's. In gpg's form, the SKESK has no
// encrypted session key, so every wrong code gets past it and only the MDC
// catches it; in Encrypt's form, 1 in 256 wrong codes does, and the test
// looks for some of those.
func TestWrongCode(t *testing.T) {
	msg, code := vector(t)
	for _, c := range wrongCodes(t, 2, code) {
		_, err := Decrypt(msg, c)
		checkErr(t, err, ErrWrongCode)
	}

	key := aliceSecret(t)
	t.Run("Encrypt", func(t *testing.T) {
		right := Code("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")
		msg, err := encrypt(key, right, lowCount)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range wrongCodes(t, 200, right) {
			_, err := Decrypt(msg, c)
			checkErr(t, err, ErrWrongCode)
		}
		// Wrong codes that get past the SKESK (its session key decrypts to
		// a plausible cipher octet): only the MDC stops them.
		p, err := packet.Read(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		skesk := p.(*packet.SymmetricKeyEncrypted)
		found := 0
		for i := 0; i < 20000 && found < 3; i++ {
			c := wrongCodes(t, 1, right)[0]
			if _, _, err := skesk.Decrypt([]byte(c)); err != nil {
				continue
			}
			found++
			_, err := Decrypt(msg, c)
			checkErr(t, err, ErrWrongCode)
		}
		if found == 0 {
			t.Error("no wrong code got past the SKESK in 20000 tries")
		}
		t.Logf("%d wrong codes got past the SKESK to the MDC", found)
	})
	t.Run("gpg-style", func(t *testing.T) {
		right := Code("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")
		msg := gpgStyle(t, key, string(right), lowCount)
		got, err := Decrypt(msg, right)
		if err != nil {
			t.Fatal(err)
		}
		checkAlice(t, got)
		for _, c := range wrongCodes(t, 200, right) {
			_, err := Decrypt(msg, c)
			checkErr(t, err, ErrWrongCode)
		}
	})
}

func TestNotABackup(t *testing.T) {
	key := aliceSecret(t)
	msg, code := vector(t)
	garbage := make([]byte, 300)
	rand.Read(garbage)
	garbage[0] &^= 0x80 // not a packet header

	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(key)))
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := openpgp.Encrypt(&pub, []*openpgp.Entity{e}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(key)
	w.Close()

	var signed bytes.Buffer
	w, err = openpgp.Sign(&signed, []*openpgp.Entity{e}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	w.Close()

	// SKESK, then data encrypted without integrity protection (tag 9).
	noMDC := append([]byte{}, msg[:15]...)
	noMDC = append(noMDC, 0xc0|9, 40)
	noMDC = append(noMDC, garbage[:40]...)

	for _, c := range []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"text", []byte("hello, world")},
		{"random", garbage},
		{"public-key encrypted", pub.Bytes()},
		{"public-key encrypted, armored", armored(t, "PGP MESSAGE", pub.Bytes())},
		{"signed, not encrypted", signed.Bytes()},
		{"a secret key", key},
		{"a secret key, armored", readTestdata(t, "alice.secret.asc")},
		{"only the SKESK", msg[:15]},
		{"truncated", msg[:len(msg)/2]},
		{"no MDC", noMDC},
		{"bad armor", []byte("-----BEGIN PGP MESSAGE-----\n\n!!!!\n-----END PGP MESSAGE-----\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decrypt(c.data, code)
			checkErr(t, err, ErrNotABackup)
			t.Log(err)
		})
	}
}

func TestNoSecretKey(t *testing.T) {
	pass := "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW"
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(aliceSecret(t))))
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"text", symEncrypt(t, []byte("not a key"), pass, &packet.Config{})},
		{"empty", symEncrypt(t, nil, pass, &packet.Config{})},
		{"public key", symEncrypt(t, pub.Bytes(), pass, &packet.Config{})},
		{"public key, armored", symEncrypt(t, armored(t, "PGP PUBLIC KEY BLOCK", pub.Bytes()), pass, &packet.Config{})},
		{"text, like gpg", gpgStyle(t, []byte("not a key"), pass, lowCount)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decrypt(c.msg, Code(pass))
			checkErr(t, err, ErrNoSecretKey)
			t.Log(err)
		})
	}
}

// What other clients may make, and Decrypt accepts: compression, an
// armored key inside, a crypto-refresh backup (SKESK v6, Argon2, SEIPD v2),
// several SKESKs, a SEIPD holding the key packets without literal data.
func TestDecryptOtherShapes(t *testing.T) {
	key := aliceSecret(t)
	pass := "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW"

	// Key packets straight in the SEIPD, no literal data packet.
	noLiteral := func() []byte {
		// A SKESK whose S2K gives the data key: build it with gpgStyle's
		// recipe, but put the key packets directly in the SEIPD.
		var spec bytes.Buffer
		k := make([]byte, 32)
		if err := s2k.Serialize(&spec, k, rand.Reader, []byte(pass), &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: lowCount}); err != nil {
			t.Fatal(err)
		}
		body := append([]byte{4, 9}, spec.Bytes()...)
		out := bytes.NewBuffer([]byte{0xc3, byte(len(body))})
		out.Write(body)
		w, err := packet.SerializeSymmetricallyEncrypted(out, packet.CipherAES256, false, packet.CipherSuite{}, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(key)
		w.Close()
		return out.Bytes()
	}

	var several bytes.Buffer
	pw, err := openpgp.SymmetricallyEncryptWithParams([]byte("some other passphrase"), &several, &openpgp.EncryptParams{
		Passwords: [][]byte{[]byte("and another"), []byte(pass)},
		Config:    &packet.Config{S2KConfig: &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, S2KCount: lowCount}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(key)
	pw.Close()

	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"zlib", symEncrypt(t, key, pass, &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB})},
		{"zip", symEncrypt(t, key, pass, &packet.Config{DefaultCompressionAlgo: packet.CompressionZIP})},
		{"armored key inside", symEncrypt(t, readTestdata(t, "alice.secret.asc"), pass, &packet.Config{})},
		{"AES-128", symEncrypt(t, key, pass, &packet.Config{DefaultCipher: packet.CipherAES128})},
		{"v6 SKESK, Argon2, SEIPD v2", symEncrypt(t, key, pass, &packet.Config{AEADConfig: &packet.AEADConfig{}, S2KConfig: argon2Small})},
		{"three SKESKs", several.Bytes()},
		{"no literal data", noLiteral()},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decrypt(c.msg, Code(pass))
			if err != nil {
				t.Fatal(err)
			}
			checkAlice(t, got)
			if strings.Contains(c.name, "SKESKs") {
				return
			}
			_, err = Decrypt(c.msg, wrongCodes(t, 1, Code(pass))[0])
			checkErr(t, err, ErrWrongCode)
		})
	}
}

func TestTooLarge(t *testing.T) {
	pass := "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW"
	big := make([]byte, MaxSize+1)
	bomb := make([]byte, 8*MaxSize)

	// An Argon2 S2K asking for 2^31 KiB (2 TiB) must be refused before
	// anything is allocated.
	s := symEncrypt(t, aliceSecret(t), pass, &packet.Config{AEADConfig: &packet.AEADConfig{}, S2KConfig: argon2Small})
	hungry := bytes.Clone(s)
	// Header (2), version 6, count, cipher, AEAD mode, count, then the S2K:
	// mode 4, salt (16), passes, parallelism, memory exponent.
	if hungry[0] != 0xc3 || hungry[2] != 6 || hungry[7] != 4 || hungry[7+19] != 10 {
		t.Fatalf("unexpected SKESK v6 % x", hungry[:27])
	}
	hungry[7+19] = 31

	var many bytes.Buffer
	pws := make([][]byte, 5)
	for i := range pws {
		pws[i] = []byte(fmt.Sprint("passphrase ", i))
	}
	pw, err := openpgp.SymmetricallyEncryptWithParams([]byte(pass), &many, &openpgp.EncryptParams{
		Passwords: pws,
		Config:    &packet.Config{S2KConfig: &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, S2KCount: lowCount}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("x"))
	pw.Close()

	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"input", make([]byte, 4*MaxSize+1)},
		{"literal", symEncrypt(t, big, pass, &packet.Config{})},
		{"compression bomb", symEncrypt(t, bomb, pass, &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB})},
		{"Argon2 memory", hungry},
		{"six SKESKs", many.Bytes()},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decrypt(c.msg, Code(pass))
			checkErr(t, err, ErrTooLarge)
			t.Log(err)
		})
	}
	_, err = Encrypt(big, Code(pass))
	checkErr(t, err, ErrTooLarge)
}

func TestEncryptRejects(t *testing.T) {
	key := aliceSecret(t)
	code := Code("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")

	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(key)))
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if err := e.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	var protected bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&protected, nil); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		key  []byte
		want error
	}{
		{"nothing", nil, ErrNoSecretKey},
		{"garbage", []byte("not a key"), ErrNoSecretKey},
		{"public key", pub.Bytes(), ErrNoSecretKey},
		{"armored public key", armored(t, "PGP PUBLIC KEY BLOCK", pub.Bytes()), ErrNoSecretKey},
		{"protected", protected.Bytes(), ErrProtectedKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := encrypt(c.key, code, lowCount)
			checkErr(t, err, c.want)
			t.Log(err)
		})
	}
	var ce *CodeError
	if _, err := Encrypt(key, "TWNK-KD5Y-MT3T-E1GS-DRDB-KVT0"); !errors.As(err, &ce) {
		t.Errorf("bad code: %v, want a *CodeError", err)
	}
}

// A code that is not in XEP-0373's format (from a client that does not
// follow it) is used verbatim.
func TestDecryptNonConformingCode(t *testing.T) {
	key := aliceSecret(t)
	for _, pass := range []string{"correct horse battery staple", "TWNKKD5YMT3TE1GSDRDBKVTW0"} {
		got, err := Decrypt(symEncrypt(t, key, pass, &packet.Config{}), Code(pass))
		if err != nil {
			t.Fatalf("%q: %v", pass, err)
		}
		checkAlice(t, got)
	}
}
