package backup

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// alice's primary key (testdata/alice.secret.asc, the lab's key).
const aliceFpr = "73E8035BCB948EB3533F153767EE3E8BF07535FA"

// lowCount is the smallest S2K count OpenPGP allows; tests that try many
// codes use it (one S2K at S2KCount costs tens of milliseconds).
const lowCount = 65536

// argon2Small is an Argon2 S2K (as crypto-refresh clients use) with 1 MiB
// of memory and one pass.
var argon2Small = &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 1, Memory: 1 << 10}}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("test data missing: %v", err)
	}
	return b
}

// vector returns the lab's synthetic backup, made by
// gpg --symmetric --cipher-algo AES256 --s2k-mode 3 --s2k-digest-algo SHA256
// (testdata/secret-key-publish-as-owner.xml, the <secretkey/> of the item
// fetched back from Prosody), and its code.
func vector(tb testing.TB) ([]byte, Code) {
	tb.Helper()
	xml := readTestdata(tb, "secret-key-publish-as-owner.xml")
	m := regexp.MustCompile(`<secretkey xmlns='urn:xmpp:openpgp:0'>([^<]+)</secretkey>`).FindSubmatch(xml)
	if m == nil {
		tb.Fatal("no <secretkey/> in secret-key-publish-as-owner.xml")
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m[1])), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b, Code(strings.TrimSpace(string(readTestdata(tb, "secret-key-backup-code.txt"))))
}

// aliceSecret returns alice's transferable secret key, binary.
func aliceSecret(tb testing.TB) []byte {
	tb.Helper()
	return unarmor(tb, readTestdata(tb, "alice.secret.asc"))
}

func unarmor(tb testing.TB, b []byte) []byte {
	tb.Helper()
	block, err := armor.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(block.Body); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func armored(tb testing.TB, typ string, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	w, err := armor.Encode(&out, typ, nil)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// checkAlice checks that key is alice's secret key, unprotected.
func checkAlice(tb testing.TB, key []byte) {
	tb.Helper()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(key)))
	if err != nil {
		tb.Fatalf("ReadEntity: %v", err)
	}
	if got := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint); got != aliceFpr {
		tb.Errorf("fingerprint %s, want %s", got, aliceFpr)
	}
	if e.PrivateKey == nil {
		tb.Fatal("no private key")
	}
	if e.PrivateKey.Encrypted {
		tb.Error("the private key is encrypted")
	}
	if len(e.Subkeys) == 0 {
		tb.Fatal("no subkey")
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey == nil || sk.PrivateKey.Encrypted {
			tb.Errorf("subkey %X: missing or encrypted private key", sk.PublicKey.Fingerprint)
		}
	}
}

// symEncrypt encrypts plaintext packets' contents with go-crypto the way
// other clients might: hints, compression and AEAD as given.
func symEncrypt(tb testing.TB, contents []byte, pass string, config *packet.Config) []byte {
	tb.Helper()
	if config.S2KConfig == nil {
		config.S2KConfig = &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: lowCount}
	}
	var out bytes.Buffer
	w, err := openpgp.SymmetricallyEncrypt(&out, []byte(pass), nil, config)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(contents); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// gpgStyle builds a backup the way gpg --symmetric does: a SKESK v4 without
// an encrypted session key (the S2K output is the data key), so that any
// passphrase "decrypts" the SKESK and only the MDC tells a wrong one; then
// SEIPD v1 with literal data holding plaintext. The S2K count is count.
func gpgStyle(tb testing.TB, plaintext []byte, pass string, count int) []byte {
	tb.Helper()
	var spec bytes.Buffer
	key := make([]byte, 32)
	if err := s2k.Serialize(&spec, key, rand.Reader, []byte(pass), &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: count}); err != nil {
		tb.Fatal(err)
	}
	body := append([]byte{4, byte(packet.CipherAES256)}, spec.Bytes()...)
	out := bytes.NewBuffer([]byte{0xc0 | 3, byte(len(body))})
	out.Write(body)
	w, err := packet.SerializeSymmetricallyEncrypted(out, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
	if err != nil {
		tb.Fatal(err)
	}
	lit, err := packet.SerializeLiteral(w, true, "", 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := lit.Write(plaintext); err != nil {
		tb.Fatal(err)
	}
	if err := lit.Close(); err != nil { // closes w too
		tb.Fatal(err)
	}
	return out.Bytes()
}

// wrongCodes returns n distinct codes, none equal to right.
func wrongCodes(tb testing.TB, n int, right Code) []Code {
	tb.Helper()
	seen := map[Code]bool{right: true}
	var codes []Code
	for len(codes) < n {
		c, err := NewCode()
		if err != nil {
			tb.Fatal(err)
		}
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	return codes
}

// checkErr checks that err wraps want and reads as a backup error.
func checkErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("error %v, want %v", err, want)
	}
	if !strings.HasPrefix(err.Error(), "backup: ") {
		tb.Errorf("error %q does not start with %q", err, "backup: ")
	}
}

// reserialize returns the secret key as go-crypto writes it.
func reserialize(tb testing.TB, key []byte) []byte {
	tb.Helper()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(key)))
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&b, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
