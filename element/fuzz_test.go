package element

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// addSeeds adds every testdata file matching pattern (at least min of them,
// so that a vanished corpus fails the fuzz test) and, for PEP dumps, their
// item payloads, plus the extra seeds.
func addSeeds(f *testing.F, pattern string, min int, items bool, extra ...string) {
	f.Helper()
	for _, name := range testdataGlob(f, pattern, min) {
		data := readTestdata(f, name)
		if items {
			for _, it := range pepItems(f, data) {
				f.Add(it.Raw)
			}
		}
		f.Add(data)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func FuzzParseContent(f *testing.F) {
	addSeeds(f, "*.message-*.signcrypt.xml", 8, false,
		`<crypt xmlns='urn:xmpp:openpgp:0'><time stamp='2020-01-01T00:00:00.5+0200'/><payload xmlns='jabber:client'><body>x</body></payload></crypt>`,
		`<sign xmlns='urn:xmpp:openpgp:0' xmlns:p='urn:p'><to jid='a@b/c'/><to jid='@'/><time stamp='2020-01-01T00:00:00'/><payload><p:x/><body>y</body></payload></sign>`,
		`<sign xmlns='urn:xmpp:openpgp:0' xmlns:p='jabber:server'><to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/><payload xmlns='urn:other'><body>no</body><p:body>yes</p:body></payload></sign>`,
		`<sign xmlns='urn:xmpp:openpgp:0'><to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/><payload><body xmlns='urn:x'>no</body><body xmlns=''>yes &amp; <!-- c -->more</body></payload></sign>`,
		"<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/><rpad>\x01<&</rpad><payload/></signcrypt>",
	)
	for _, body := range []string{"hi", "", "a > b ]] ok", "x\ny\tz", "\u00e9\U0001F600"} {
		c, err := NewContent(KindSigncrypt, []jid.JID{jid.MustParse("bob@example.org")}, time.Now(), BodyPayload(body))
		if err != nil {
			f.Fatal(err)
		}
		out, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
		f.Add(bytes.ReplaceAll(out, []byte(`"`), []byte("'")))
	}
	f.Add([]byte("<crypt xmlns='urn:xmpp:openpgp:0'><to jid='x@y/z'/><to jid='@@'/><time stamp='2020-01-01T00:00:00'/><payload><body xmlns='jabber:client'>a</body></payload></crypt>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fast reader and the XML decoder agree on everything the
		// fast reader takes.
		if fc, ok := fastContent(data); ok {
			full, err := parseContent(data)
			if err != nil {
				t.Fatalf("fast reader took what the parser refuses (%v)\ninput %q", err, data)
			}
			if diff := contentDiff(fc, full); diff != "" {
				t.Fatalf("fast reader and parser disagree: %s\ninput %q", diff, data)
			}
		}
		c, err := ParseContent(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		// The body found while parsing is the one a fresh parse of the
		// payload finds.
		fresh := *c
		fresh.Payload = append([]byte(nil), c.Payload...)
		b1, ok1 := c.Body()
		b2, ok2 := fresh.Body()
		if b1 != b2 || ok1 != ok2 {
			t.Fatalf("Body after ParseContent %q %v, from the payload %q %v\ninput %q", b1, ok1, b2, ok2, data)
		}
		if c.Kind != KindCrypt && len(c.To) == 0 {
			return // not writable, by design (ErrNoRecipient)
		}
		if c.Time.IsZero() {
			return // 0001-01-01T00:00:00Z parses; Marshal refuses an unset time
		}
		body, hasBody := c.Body()
		out, err := c.Marshal()
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("parsed but cannot be written: %v\ninput %q", err, data)
		}
		back, err := ParseContent(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\ninput  %q\noutput %q", err, data, out)
		}
		if back.Kind != c.Kind || !back.Time.Equal(c.Time.Truncate(time.Second)) || back.Rpad != stringWithoutRepairs(c.Rpad) {
			t.Fatalf("round trip changed the content:\n got %+v\nwant %+v\noutput %q", back, c, out)
		}
		body2, hasBody2 := back.Body()
		if body2 != body || hasBody2 != hasBody {
			t.Fatalf("round trip changed the body: %q, %v; want %q, %v\ninput  %q\noutput %q", body2, hasBody2, body, hasBody, data, out)
		}
		if !bytes.Equal(back.Payload, c.Payload) {
			t.Fatalf("round trip changed the payload:\n got %q\nwant %q", back.Payload, c.Payload)
		}
		out2, err := back.Marshal()
		if err != nil || !bytes.Equal(out2, out) {
			t.Fatalf("Marshal is not stable: %v\n%q\n%q", err, out, out2)
		}
	})
}

// stringWithoutRepairs is what Marshal + ParseContent give back for an
// rpad: XML cannot carry some characters, Marshal writes U+FFFD instead.
func stringWithoutRepairs(s string) string {
	out := appendTextEscaped(nil, s)
	c, err := ParseContent([]byte(`<crypt xmlns="urn:xmpp:openpgp:0"><time stamp="2000-01-01T00:00:00Z"/><rpad>` + string(out) + `</rpad><payload/></crypt>`))
	if err != nil {
		return "\x00unparsable"
	}
	return c.Rpad
}

func FuzzParseMessage(f *testing.F) {
	addSeeds(f, "*.message-?.xml", 8, false,
		`<message xmlns='jabber:client' type='chat' from='a@b/c'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00+0100'/><openpgp xmlns='urn:xmpp:openpgp:0'>-----BEGIN PGP MESSAGE-----

wcBMA0ppt3YhbbEw
=AAAA
-----END PGP MESSAGE-----</openpgp></message>`,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if m.OpenPGP != nil {
			if len(m.OpenPGP) == 0 || m.OpenPGP[0]&0x80 == 0 {
				t.Fatalf("OpenPGP %x is not a packet", m.OpenPGP)
			}
			back, err := ParseOpenPGP(MarshalOpenPGP(m.OpenPGP))
			if err != nil || !bytes.Equal(back, m.OpenPGP) {
				t.Fatalf("MarshalOpenPGP round trip: %v", err)
			}
		}
	})
}

func FuzzParseOpenPGP(f *testing.F) {
	for _, name := range testdataGlob(f, "*.message-?.xml", 8) {
		data := readTestdata(f, name)
		i := bytes.Index(data, []byte("<openpgp"))
		j := bytes.Index(data, []byte("</openpgp>"))
		if i < 0 || j < i {
			f.Fatalf("%s: no <openpgp/>", name)
		}
		f.Add(data[i : j+len("</openpgp>")])
	}
	f.Add([]byte("<openpgp xmlns='urn:xmpp:openpgp:0'>" + armor("PGP MESSAGE", []byte{0xc1, 2, 3}, "Version: x") + "</openpgp>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := ParseOpenPGP(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if len(msg) == 0 || msg[0]&0x80 == 0 {
			t.Fatalf("%x is not a packet", msg)
		}
		back, err := ParseOpenPGP(MarshalOpenPGP(msg))
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParsePubKey(f *testing.F) {
	addSeeds(f, "pep.*.xml", 6, true,
		"<pubkey xmlns='urn:xmpp:openpgp:0' date='2018-03-01T15:26:12Z'><data>"+armor("PGP PUBLIC KEY BLOCK", []byte{0x98, 1, 2})+"</data></pubkey>")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePubKey(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		back, err := ParsePubKey(p.Marshal())
		if err != nil || !bytes.Equal(back.Data, p.Data) || back.Armored || !back.Date.IsZero() {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}

func FuzzParsePublicKeysList(f *testing.F) {
	addSeeds(f, "pep.*.xml", 6, true,
		`<x:public-keys-list xmlns:x='urn:xmpp:openpgp:0' xmlns:e='urn:e'><x:pubkey-metadata v4-fingerprint='1357b01865b2503c18453d208cac2a9678548e35' date='2018-03-01T15:26:12+0100' e:a='1'><e:y/></x:pubkey-metadata><pubkey-metadata xmlns='urn:xmpp:openpgp:0' v4-fingerprint='bad'/></x:public-keys-list>`)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParsePublicKeysList(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range l.Keys {
			n, err := NormalizeFingerprint(k.Fingerprint)
			if err != nil || n != k.Fingerprint || seen[n] {
				t.Fatalf("fingerprint %q: %v, duplicate %v", k.Fingerprint, err, seen[n])
			}
			seen[n] = true
		}
		// Written back (foreign entries verbatim) and read again: the
		// same keys, the same raw entries.
		out := l.Marshal()
		back, err := ParsePublicKeysList(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%q", err, out)
		}
		if len(back.Keys) != len(l.Keys) {
			t.Fatalf("%d keys, want %d\n%q", len(back.Keys), len(l.Keys), out)
		}
		for i := range l.Keys {
			a, b := l.Keys[i], back.Keys[i]
			if a.Fingerprint != b.Fingerprint || !a.Date.Equal(b.Date) || !bytes.Equal(a.Raw, b.Raw) {
				t.Fatalf("key %d: %+v, want %+v", i, b, a)
			}
		}
		// And written from the fields alone: valid and strict.
		for i := range l.Keys {
			l.Keys[i].Raw = nil
		}
		strict, err := ParsePublicKeysList(l.Marshal())
		if err != nil || len(strict.Keys) != len(l.Keys) || len(strict.Skipped) != 0 {
			t.Fatalf("strict Marshal: %+v, %v", strict, err)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-26T11:29:46Z", "2026-11-26T11:29:46+0000", "2026-11-26T11:29:46.123-05:30", "20261126T11:29:46", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%v not in UTC", tm)
		}
		back, err := ParseTime(FormatTime(tm))
		if err != nil || !back.Equal(tm.Truncate(time.Second)) {
			t.Fatalf("FormatTime(%v) = %q: %v, %v", tm, FormatTime(tm), back, err)
		}
	})
}

// contentDiff names the first field in which a and b differ, "" if none.
func contentDiff(a, b *Content) string {
	ab, aok := a.Body()
	bb, bok := b.Body()
	jids := func(js []jid.JID) string {
		var s []string
		for _, j := range js {
			s = append(s, j.String())
		}
		return strings.Join(s, " ")
	}
	switch {
	case a.Kind != b.Kind:
		return "kind"
	case jids(a.To) != jids(b.To):
		return fmt.Sprintf("to %q %q", jids(a.To), jids(b.To))
	case strings.Join(a.BadTo, "\x00") != strings.Join(b.BadTo, "\x00"):
		return fmt.Sprintf("bad to %q %q", a.BadTo, b.BadTo)
	case !a.Time.Equal(b.Time) || a.TimeRaw != b.TimeRaw || a.TimeNoZone != b.TimeNoZone:
		return "time"
	case a.Rpad != b.Rpad || a.RpadRepaired != b.RpadRepaired:
		return fmt.Sprintf("rpad %q %q", a.Rpad, b.Rpad)
	case !bytes.Equal(a.Payload, b.Payload):
		return fmt.Sprintf("payload %q %q", a.Payload, b.Payload)
	case ab != bb || aok != bok:
		return fmt.Sprintf("body %q %v, %q %v", ab, aok, bb, bok)
	}
	return ""
}

// What ox writes (a chat message) takes the fast reader, in both quote
// styles; a body needing decoding does not.
func TestFastContentTakesOxOutput(t *testing.T) {
	for body, want := range map[string]bool{"Hi Bob!": true, "": true, "\u00e9 \U0001F600\tok": true, "a > b": true, "fish & chips 'a' <b>": true} {
		c, err := NewContent(KindSigncrypt, []jid.JID{jid.MustParse("bob@example.org"), jid.MustParse("alice@example.org")}, time.Now(), BodyPayload(body))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]byte{out, bytes.ReplaceAll(out, []byte(`"`), []byte("'"))} {
			fc, ok := fastContent(in)
			if ok != want {
				t.Errorf("%q: fast reader took it: %v, want %v", in, ok, want)
				continue
			}
			if !ok {
				continue
			}
			if got, _ := fc.Body(); got != body || len(fc.To) != 2 || fc.Rpad != c.Rpad || !fc.Time.Equal(c.Time) {
				t.Errorf("%q: read %+v", in, fc)
			}
		}
	}
}
