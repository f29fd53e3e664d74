package pgptest

import (
	"bytes"
	"embed"
	"encoding/base64"
	"regexp"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// The captured vectors (copied from pgp/native/testdata): the keys of alice and
// bob (made by go-sendxmpp) and carol (made by gpg for Profanity), and
// messages between go-sendxmpp, Profanity and xmppc.
//
//go:embed testdata
var testdata embed.FS

// Fingerprints of the vector keys.
const (
	AliceFpr = "73E8035BCB948EB3533F153767EE3E8BF07535FA"
	BobFpr   = "3EC1012940BF2505DE661858CE26F77F77D5678B"
	CarolFpr = "8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0"
)

// VectorFile returns a file of testdata (a key, "alice.secret.asc", or a
// vector message).
func VectorFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var openpgpRE = regexp.MustCompile(`(?s)<openpgp xmlns='urn:xmpp:openpgp:0'>([^<]*)</openpgp>`)

// VectorMessage returns the binary OpenPGP message of a captured stanza.
func VectorMessage(t testing.TB, name string) []byte {
	t.Helper()
	m := openpgpRE.FindSubmatch(VectorFile(t, name))
	if m == nil {
		t.Fatalf("%s: no <openpgp/>", name)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	return raw
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

// Keys made here, independently of the backend under test, with go-crypto:
// the shapes of key that the backends must handle alike.

// fixture is a key made with go-crypto: its entity and config.
type fixture struct {
	e   *openpgp.Entity
	cfg *packet.Config
}

// newFixture makes a v4 Ed25519/Cv25519 key with user ID uid, created at
// created, valid for lifetime (zero: for ever).
func newFixture(t testing.TB, uid string, created time.Time, lifetime time.Duration) *fixture {
	t.Helper()
	cfg := &packet.Config{
		Algorithm:              packet.PubKeyAlgoEdDSA,
		Curve:                  packet.Curve25519,
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   func() time.Time { return created },
		KeyLifetimeSecs:        uint32(lifetime / time.Second),
	}
	e, err := openpgp.NewEntity(uid, "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{e: e, cfg: cfg}
}

func (f *fixture) fpr() pgp.Fingerprint {
	fp, _ := pgp.FingerprintFromBytes(f.e.PrimaryKey.Fingerprint)
	return fp
}

func (f *fixture) public(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *fixture) secret(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.e.SerializePrivateWithoutSigning(&b, f.cfg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sign makes a signed (not encrypted) message at time at.
func (f *fixture) sign(t testing.TB, msg []byte, at time.Time) []byte {
	t.Helper()
	cfg := *f.cfg
	cfg.Time = func() time.Time { return at }
	var out bytes.Buffer
	w, err := openpgp.SignWithParams(&out, []*openpgp.Entity{f.e}, &openpgp.SignParams{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// revoked returns the public key with a key revocation ("compromised",
// which counts for every time, before the revocation too).
func (f *fixture) revoked(t testing.TB) []byte {
	t.Helper()
	c := *f.e
	cfg := *f.cfg
	cfg.Time = func() time.Time { return f.cfg.Now().Add(time.Minute) }
	if err := c.Revoke(packet.KeyCompromised, "test", &cfg); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
