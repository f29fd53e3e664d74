package check_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

func j(t testing.TB, s string) jid.JID {
	t.Helper()
	x, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

var openpgpRE = regexp.MustCompile(`<openpgp xmlns='urn:xmpp:openpgp:0'>([^<]*)</openpgp>`)

// openVector decrypts a captured message with its recipient's key, at the
// time the vectors were captured.
func openVector(t *testing.T, scenario, recipient, sender string, at time.Time) *pgp.Opened {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := native.New(st, native.WithClock(func() time.Time { return at }))
	for _, f := range []string{recipient + ".secret.asc", sender + ".public.asc"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Import(context.Background(), data); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", scenario+".message-1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := openpgpRE.FindSubmatch(raw)
	msg, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Open(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

var captured = time.Date(2026, 11, 26, 11, 30, 0, 0, time.UTC)

func TestVectorsPass(t *testing.T) {
	for _, c := range []struct{ scenario, recipient, sender, body string }{
		{"s02-gosendxmpp-to-gosendxmpp", "bob", "alice", `s02 hello bob, OX from go-sendxmpp alice <&> 'quotes' "dq" ünïcödé`},
		{"s06-profanity-to-gosendxmpp", "alice", "carol", "s06 hello alice, OX from profanity carol"},
		{"s07-xmppc-to-gosendxmpp", "alice", "bob", "s07 hello alice, OX from xmppc bob"},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			o := openVector(t, c.scenario, c.recipient, c.sender, captured)
			v, err := check.Message(check.Input{
				Opened: o, Sender: j(t, c.sender+"@localhost/res"), Recipient: j(t, c.recipient+"@localhost"), Delivered: captured,
			}, check.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := v.Content.Body(); body != c.body {
				t.Errorf("body %q", body)
			}
			if len(v.Warnings) != 0 {
				t.Errorf("warnings %v", v.Warnings)
			}
			// The same message a day later is a replay.
			_, err = check.Message(check.Input{Opened: o, Sender: j(t, c.sender+"@localhost"), Recipient: j(t, c.recipient+"@localhost"), Delivered: captured.Add(24 * time.Hour)}, check.Options{})
			var te *check.TimeError
			if !errors.As(err, &te) || te.What != "signature" {
				t.Errorf("replayed a day later: %v", err)
			}
		})
	}
}

// synthetic builds an opened message around a content element, as a backend
// returns it for a good signcrypt from alice to bob.
func synthetic(t *testing.T, content string, sigTime time.Time) *pgp.Opened {
	fpr, _ := pgp.ParseFingerprint("73E8035BCB948EB3533F153767EE3E8BF07535FA")
	return &pgp.Opened{
		Plaintext: []byte(content), Encrypted: true, Signed: true,
		Signer:        &pgp.KeyInfo{Fingerprint: fpr, UserIDs: []string{"xmpp:alice@example.org"}},
		SignatureTime: sigTime,
	}
}

func signcrypt(to []string, stamp string) string {
	var b strings.Builder
	b.WriteString(`<signcrypt xmlns='urn:xmpp:openpgp:0'>`)
	for _, t := range to {
		b.WriteString(`<to jid='` + t + `'/>`)
	}
	b.WriteString(`<time stamp='` + stamp + `'/><rpad>x</rpad><payload><body xmlns='jabber:client'>hi</body></payload></signcrypt>`)
	return b.String()
}

func TestChecks(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	stamp := "2026-11-26T12:00:00Z"
	alice, bob := j(t, "alice@example.org"), j(t, "bob@example.org")
	good := func() *pgp.Opened { return synthetic(t, signcrypt([]string{"bob@example.org"}, stamp), now) }
	run := func(o *pgp.Opened, sender, recipient jid.JID, opts check.Options) (*check.Verdict, error) {
		return check.Message(check.Input{Opened: o, Sender: sender, Recipient: recipient, Delivered: now}, opts)
	}
	t.Run("good", func(t *testing.T) {
		if _, err := run(good(), alice, bob, check.Options{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("several to, full JID, other case", func(t *testing.T) {
		o := synthetic(t, signcrypt([]string{"carol@example.org", "Bob@EXAMPLE.org/phone"}, stamp), now)
		if _, err := run(o, alice, bob, check.Options{}); err != nil {
			t.Fatal(err)
		}
	})
	cases := []struct {
		name   string
		o      func() *pgp.Opened
		sender jid.JID
		opts   check.Options
		target any
		words  string
	}{
		{"wrong sender", good, j(t, "mallory@example.org"), check.Options{}, new(*check.SignerMismatchError), "not xmpp:mallory@example.org"},
		{"addressed to someone else", func() *pgp.Opened { return synthetic(t, signcrypt([]string{"carol@example.org"}, stamp), now) }, alice, check.Options{}, new(*check.RecipientError), "addressed to carol@example.org, not to bob@example.org"},
		{"unsigned", func() *pgp.Opened { o := good(); o.Signed, o.Signer = false, nil; return o }, alice, check.Options{}, new(*check.UnsignedError), "not signed"},
		{"bad signature", func() *pgp.Opened {
			o := good()
			o.SignatureErr = &pgp.SignatureError{Reason: "the signature does not verify"}
			return o
		}, alice, check.Options{}, new(*check.SignatureError), "does not verify"},
		{"unknown signer", func() *pgp.Opened {
			o := good()
			o.Signer, o.SignatureErr = nil, &pgp.SignatureError{Unknown: true, KeyID: 0x67EE3E8BF07535FA}
			return o
		}, alice, check.Options{}, new(*check.SignatureError), "unknown key (key ID 67EE3E8BF07535FA)"},
		{"not encrypted", func() *pgp.Opened { o := good(); o.Encrypted = false; return o }, alice, check.Options{}, new(*check.LayerError), "is not encrypted"},
		{"sign where signcrypt is needed", func() *pgp.Opened {
			o := synthetic(t, strings.ReplaceAll(signcrypt([]string{"bob@example.org"}, stamp), "signcrypt", "sign"), now)
			o.Encrypted = false
			return o
		}, alice, check.Options{}, new(*check.KindError), "carries <sign/>"},
		{"not announced", good, alice, check.Options{Announced: func(jid.JID, pgp.Fingerprint) bool { return false }}, new(*check.NotAnnouncedError), "not one that alice@example.org announces"},
		{"time far off", func() *pgp.Opened {
			return synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-26T12:37:00Z"), now)
		}, alice, check.Options{}, new(*check.TimeError), "<time/> time"},
		{"old signature (replay)", func() *pgp.Opened {
			return synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-20T12:00:00Z"), now.Add(-6*24*time.Hour))
		}, alice, check.Options{}, new(*check.TimeError), "signature time 2026-11-20T12:00:00Z is 144h0m0s before the delivery time"},
		// Both far from delivery, and far from each other: the <time/>
		// that does not match its signature is the tampering to report.
		{"time and signature disagree, both old", func() *pgp.Opened {
			return synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-20T12:37:00Z"), now.Add(-3*24*time.Hour))
		}, alice, check.Options{}, new(*check.TimeError), "<time/> time 2026-11-20T12:37:00Z is 71h23m0s before the signature time"},
		{"garbage content", func() *pgp.Opened { return synthetic(t, "<signcrypt", now) }, alice, check.Options{}, new(*check.ContentError), "not a valid OX element"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(c.o(), c.sender, bob, c.opts)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.As(err, c.target) {
				t.Errorf("error %T (%v), want %T", err, err, c.target)
			}
			if !strings.Contains(err.Error(), c.words) {
				t.Errorf("error %q does not say %q", err, c.words)
			}
		})
	}
	t.Run("local time written as UTC warns", func(t *testing.T) {
		o := synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-26T13:00:20Z"), now)
		v, err := run(o, alice, bob, check.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "+1h") {
			t.Errorf("warnings %v", v.Warnings)
		}
	})
	t.Run("window is configurable", func(t *testing.T) {
		o := synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-26T12:05:00Z"), now)
		if _, err := run(o, alice, bob, check.Options{}); err != nil {
			t.Errorf("5 minutes off within the default window: %v", err)
		}
		if _, err := run(o, alice, bob, check.Options{Window: time.Minute}); err == nil {
			t.Error("5 minutes off accepted with a 1-minute window")
		}
	})
	t.Run("crypt", func(t *testing.T) {
		o := &pgp.Opened{Encrypted: true, Plaintext: []byte(`<crypt xmlns='urn:xmpp:openpgp:0'><time stamp='` + stamp + `'/><payload/></crypt>`)}
		if _, err := run(o, alice, bob, check.Options{Kinds: []element.Kind{element.KindCrypt}}); err != nil {
			t.Error(err)
		}
		o.Signed = true
		var le *check.LayerError
		if _, err := run(o, alice, bob, check.Options{Kinds: []element.Kind{element.KindCrypt}}); !errors.As(err, &le) {
			t.Errorf("signed crypt: %v", err)
		}
	})
}

func TestOpenedPlaintextUnchanged(t *testing.T) {
	o := synthetic(t, signcrypt([]string{"bob@example.org"}, "2026-11-26T12:00:00Z"), time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	before := bytes.Clone(o.Plaintext)
	check.Message(check.Input{Opened: o, Sender: j(t, "alice@example.org"), Recipient: j(t, "bob@example.org")}, check.Options{})
	if !bytes.Equal(before, o.Plaintext) {
		t.Error("checks changed the plaintext")
	}
}
