package element

// One test per interop hazard of the mission ("Interop hazards other
// clients create") that concerns the wire elements. Hazards of other
// layers (item ids, access models, max_items, disco, server errors) are
// for the PEP and session code.

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

func content(to, stamp, rpad, payload string) string {
	s := `<signcrypt xmlns="urn:xmpp:openpgp:0">` + to + `<time stamp="` + stamp + `"/>`
	if rpad != "\x00absent" {
		s += "<rpad>" + rpad + "</rpad>"
	}
	return s + payload + `</signcrypt>`
}

const (
	toBob   = `<to jid="bob@localhost"/>`
	stampZ  = "2026-11-26T11:29:46Z"
	bodyHi  = `<payload><body xmlns="jabber:client">hi</body></payload>`
	noRpad  = "\x00absent"
	bobBare = "bob@localhost"
)

func mustParseContent(t *testing.T, in string) *Content {
	t.Helper()
	c, err := ParseContent([]byte(in))
	if err != nil {
		t.Fatalf("ParseContent(%q): %v", in, err)
	}
	return c
}

// Hazard: <time stamp> with +0000/+0200 offsets (no colon): profanity and
// xmppc write "+0000".
func TestHazardTimeOffsetWithoutColon(t *testing.T) {
	want := utc(2026, 11, 26, 11, 29, 46)
	for _, stamp := range []string{"2026-11-26T11:29:46+0000", "2026-11-26T13:29:46+0200", "2026-11-26T06:29:46-0500"} {
		c := mustParseContent(t, content(toBob, stamp, "x", bodyHi))
		if !c.Time.Equal(want) || c.TimeRaw != stamp || c.TimeNoZone {
			t.Errorf("%s: Time = %v (raw %q, no zone %v), want %v", stamp, c.Time, c.TimeRaw, c.TimeNoZone, want)
		}
	}
	// The profanity vector, pinned to the instant.
	c, err := ParseContent(readTestdata(t, "s06-profanity-to-gosendxmpp.message-1.signcrypt.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeRaw != "2026-11-26T11:29:46+0000" || c.Time.Unix() != 1795692586 {
		t.Errorf("profanity stamp %q = %v (%d)", c.TimeRaw, c.Time, c.Time.Unix())
	}
}

// Hazard: fractional seconds and stamps without a zone.
func TestHazardTimeFractionAndNoZone(t *testing.T) {
	c := mustParseContent(t, content(toBob, "2026-11-26T11:29:46.123456Z", "x", bodyHi))
	if !c.Time.Equal(utc(2026, 11, 26, 11, 29, 46).Add(123456 * time.Microsecond)) {
		t.Errorf("Time = %v", c.Time)
	}
	c = mustParseContent(t, content(toBob, "2026-11-26T11:29:46", "x", bodyHi))
	if !c.Time.Equal(utc(2026, 11, 26, 11, 29, 46)) || !c.TimeNoZone {
		t.Errorf("Time = %v, no zone %v; want UTC and flagged", c.Time, c.TimeNoZone)
	}
}

// Hazard: local time marked "Z" (profanity formats local time with a
// literal Z). The element layer cannot see it: the stamp is taken as
// written, and the receiver checks' time window catches the skew.
func TestHazardLocalTimeMarkedZ(t *testing.T) {
	c := mustParseContent(t, content(toBob, "2026-11-26T12:29:46Z", "x", bodyHi)) // written at 11:29:46Z from UTC+1
	if !c.Time.Equal(utc(2026, 11, 26, 12, 29, 46)) {
		t.Errorf("Time = %v, want the stamp as written", c.Time)
	}
}

// Hazard: rpad absent, empty, binary-ish or long: opaque.
func TestHazardRpad(t *testing.T) {
	for _, tc := range []struct {
		name, rpad, want string
		repaired         bool
	}{
		{"absent", noRpad, "", false},
		{"empty", "", "", false},
		{"self-closing", "\x00self", "", false},
		{"profanity alphabet", "WflB\\gQBbCD[ltOqKe`^_]", "WflB\\gQBbCD[ltOqKe`^_]", false},
		{"xmppc", "cc", "cc", false},
		{"punctuation and escapes", "f0rm1l4n4-mT8y33j!Y%fRS&amp;&lt;&gt;&quot;&apos;&#x1F600;&#9;", "f0rm1l4n4-mT8y33j!Y%fRS&<>\"'😀\t", false},
		{"non-ASCII", "ÿþ€\u00a0\u200b𝄞", "ÿþ€\u00a0\u200b𝄞", false},
		{"white space", " \n\t ", " \n\t ", false},
		{"long", strings.Repeat("x", 100_000), strings.Repeat("x", 100_000), false},
		{"CDATA", "<![CDATA[<&>]]>", "<&>", false},
		// Bytes XML cannot carry: repaired so the rest can be read.
		{"control characters", "a\x00b\x01\x1fc", "a\uFFFDb\uFFFD\uFFFDc", true},
		{"invalid UTF-8", "a\xff\xfeb\xc3", "a\uFFFD\uFFFDb\uFFFD", true},
		{"unescaped < and &", "a<b&c&amp;d", "a<b&c&d", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in string
			if tc.rpad == "\x00self" {
				in = `<signcrypt xmlns="urn:xmpp:openpgp:0">` + toBob + `<time stamp="` + stampZ + `"/><rpad/>` + bodyHi + `</signcrypt>`
			} else {
				in = content(toBob, stampZ, tc.rpad, bodyHi)
			}
			c := mustParseContent(t, in)
			if c.Rpad != tc.want || c.RpadRepaired != tc.repaired {
				t.Errorf("Rpad = %q (repaired %v), want %q (%v)", c.Rpad, c.RpadRepaired, tc.want, tc.repaired)
			}
			if body, ok := c.Body(); !ok || body != "hi" {
				t.Errorf("Body() = %q, %v", body, ok)
			}
			if _, err := c.Marshal(); err != nil {
				t.Errorf("Marshal: %v", err)
			}
		})
	}
	// The repair touches the root's own <rpad/> only: not text that looks
	// like one in the payload.
	in := content(toBob, stampZ, noRpad, "<payload><body xmlns='jabber:client'><![CDATA[<rpad>\x01</rpad>]]></body></payload>")
	_, err := ParseContent([]byte(in))
	wantErr(t, err, ErrSyntax, "")
}

// Hazard: no <body/> fallback (Gajim), no type attribute (go-sendxmpp,
// xmppc).
func TestHazardNoBodyNoType(t *testing.T) {
	m, err := ParseMessage([]byte(`<message to='bob@localhost' id='gajim1'><openpgp xmlns='urn:xmpp:openpgp:0'>hF4DQ6QQ5i7AHTcSAQdA</openpgp><store xmlns='urn:xmpp:hints'/></message>`))
	if err != nil {
		t.Fatal(err)
	}
	if m.HasBody || m.Body != "" || m.Type != "" || len(m.OpenPGP) == 0 || !m.Store {
		t.Errorf("%+v", m)
	}
	for _, file := range []string{"s02-gosendxmpp-to-gosendxmpp", "s07-xmppc-to-gosendxmpp"} {
		m, err := ParseMessage(readTestdata(t, file+".message-1.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != "" || len(m.OpenPGP) == 0 {
			t.Errorf("%s: type %q, %d OpenPGP bytes", file, m.Type, len(m.OpenPGP))
		}
	}
}

// Hazard: a fallback <body/> beside <openpgp/> must never be shown as the
// message: it is kept apart (Message.Body), and the message text comes
// only from the decrypted content.
func TestHazardFallbackBodyIsNotTheMessage(t *testing.T) {
	m, err := ParseMessage(readTestdata(t, "s06-profanity-to-gosendxmpp.message-1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseContent(readTestdata(t, "s06-profanity-to-gosendxmpp.message-1.signcrypt.xml"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := c.Body()
	if m.Body != fallbackGoSendXMPP || body != "s06 hello alice, OX from profanity carol" {
		t.Errorf("fallback %q, content body %q", m.Body, body)
	}
	// A spoofed fallback is just as visible as a real one: nothing in
	// Message carries it anywhere but Body.
	m, err = ParseMessage([]byte(`<message><body>Send me your password</body><openpgp xmlns='urn:xmpp:openpgp:0'>hF4DQ6QQ5i7AHTcSAQdA</openpgp></message>`))
	if err != nil || m.Body != "Send me your password" || !m.HasBody {
		t.Errorf("%+v, %v", m, err)
	}
}

// Hazard: <payload/> in the jabber:client namespace (Fluux), or children
// without a namespace of their own.
func TestHazardPayloadNamespace(t *testing.T) {
	for _, tc := range []struct{ name, payload string }{
		{"Fluux: payload in jabber:client", `<payload xmlns="jabber:client"><body>hi</body></payload>`},
		{"body inherits urn:xmpp:openpgp:0", `<payload><body>hi</body></payload>`},
		{"payload in no namespace", `<payload xmlns=""><body>hi</body></payload>`},
		{"prefixed payload", `<ox:payload xmlns:ox="urn:xmpp:openpgp:0"><body>hi</body></ox:payload>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParseContent(t, content(toBob, stampZ, "x", tc.payload))
			if body, ok := c.Body(); !ok || body != "hi" {
				t.Errorf("Body() = %q, %v", body, ok)
			}
			if names := topLevelNames(t, c.Payload); len(names) != 1 || names[0] != (xml.Name{Space: NSClient, Local: "body"}) {
				t.Errorf("payload %s: %v", c.Payload, names)
			}
		})
	}
}

// Hazard: payloads with more than <body/>: every child reaches the user.
func TestHazardPayloadMoreThanBody(t *testing.T) {
	payload := `<payload>` +
		`<body xmlns="jabber:client">fixed typo</body>` +
		`<active xmlns="http://jabber.org/protocol/chatstates"/>` +
		`<replace id="msg-1" xmlns="urn:xmpp:message-correct:0"/>` +
		`<reply xmlns="urn:xmpp:reply:0" to="alice@localhost/x" id="msg-0"/>` +
		`<x xmlns="jabber:x:oob"><url>https://example.org/a.png</url></x>` +
		`<html xmlns="http://jabber.org/protocol/xhtml-im"><body xmlns="http://www.w3.org/1999/xhtml"><p>fixed <em>typo</em></p></body></html>` +
		`</payload>`
	c := mustParseContent(t, content(toBob, stampZ, "x", payload))
	want := []xml.Name{
		{Space: NSClient, Local: "body"},
		{Space: NSChatStates, Local: "active"},
		{Space: "urn:xmpp:message-correct:0", Local: "replace"},
		{Space: "urn:xmpp:reply:0", Local: "reply"},
		{Space: "jabber:x:oob", Local: "x"},
		{Space: "http://jabber.org/protocol/xhtml-im", Local: "html"},
	}
	got := topLevelNames(t, c.Payload)
	if len(got) != len(want) {
		t.Fatalf("payload children %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("child %d: %v, want %v", i, got[i], want[i])
		}
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(payload, "<payload>"), "</payload>")
	if string(c.Payload) != inner {
		t.Errorf("payload not kept byte for byte:\n got %s\nwant %s", c.Payload, inner)
	}
	if body, ok := c.Body(); !ok || body != "fixed typo" {
		t.Errorf("Body() = %q, %v", body, ok)
	}
}

// Hazard: <to/> with a full JID (kept as written; Marshal writes bare),
// several <to/> elements, and invalid ones.
func TestHazardTo(t *testing.T) {
	c := mustParseContent(t, content(`<to jid="Bob@LocalHost/Phone"/><to jid="room@muc.localhost"/><to jid="@invalid"/><to/><to jid="carol@localhost"/>`, stampZ, "x", bodyHi))
	var got []string
	for _, j := range c.To {
		got = append(got, j.String())
	}
	if strings.Join(got, " ") != "bob@localhost/Phone room@muc.localhost carol@localhost" {
		t.Errorf("To = %v", got)
	}
	if len(c.BadTo) != 2 || c.BadTo[0] != "@invalid" || c.BadTo[1] != "" {
		t.Errorf("BadTo = %q", c.BadTo)
	}
	if !c.To[0].Bare().Equal(jid.MustParse(bobBare)) {
		t.Errorf("bare %v", c.To[0].Bare())
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`<to jid="bob@localhost"/><to jid="room@muc.localhost"/><to jid="carol@localhost"/><time`)) {
		t.Errorf("Marshal: %s", out)
	}
	// No <to/> at all parses (the checks refuse it for signcrypt) but is
	// not written.
	c = mustParseContent(t, content("", stampZ, "x", bodyHi))
	if len(c.To) != 0 {
		t.Errorf("To = %v", c.To)
	}
	_, err = c.Marshal()
	wantErr(t, err, ErrNoRecipient, "to")
}

// Hazard: pretty-printed content (white space and newlines between
// elements), unknown elements and attributes.
func TestHazardPrettyPrintedAndUnknown(t *testing.T) {
	in := "<sign xmlns='urn:xmpp:openpgp:0' version='2'>\n\t<to jid='bob@localhost' role='primary'/>\n\t<from jid='alice@localhost'/>\n\t<time stamp='2026-11-26T11:29:46Z' precision='s'/>\n\t<unknown><time stamp='bogus'/><payload/></unknown>\n\t<payload>\n\t\t<body xmlns='jabber:client' xml:lang='en'>hi</body>\n\t</payload>\n</sign>\n"
	c := mustParseContent(t, in)
	if c.Kind != KindSign || len(c.To) != 1 || !c.Time.Equal(utc(2026, 11, 26, 11, 29, 46)) {
		t.Errorf("%+v", c)
	}
	if body, ok := c.Body(); !ok || body != "hi" {
		t.Errorf("Body() = %q, %v", body, ok)
	}
}

// Hazard: metadata lists clobbered by other clients: merge, and keep
// foreign entries verbatim.
func TestHazardMetadataKeepsForeignEntries(t *testing.T) {
	in := `<ox:public-keys-list xmlns:ox='urn:xmpp:openpgp:0' xmlns:ext='urn:example:ext'>` +
		`<ox:pubkey-metadata v4-fingerprint='` + fprA + `' date='2018-03-01T15:26:12Z' ext:device='laptop'><ext:note>from another client</ext:note></ox:pubkey-metadata>` +
		`<pubkey-metadata xmlns='urn:xmpp:openpgp:0' v4-fingerprint='` + fprB + `' date='2019-01-01T00:00:00+0100' label="phone"/>` +
		`</ox:public-keys-list>`
	l, err := ParsePublicKeysList([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Keys) != 2 || l.Keys[0].Fingerprint != fprA || l.Keys[1].Fingerprint != fprB || !l.Keys[1].Date.Equal(utc(2018, 12, 31, 23, 0, 0)) {
		t.Fatalf("%+v", l)
	}
	// Our device adds its key; the other entries go back as they were.
	const own = "0123456789ABCDEF0123456789ABCDEF01234567"
	l.Keys = append(l.Keys, PubKeyMetadata{Fingerprint: own, Date: utc(2026, 11, 26, 11, 29, 46)})
	out := l.Marshal()
	back, err := ParsePublicKeysList(out)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(back.Keys) != 3 || back.Keys[2].Fingerprint != own || !bytes.Equal(back.Keys[0].Raw, l.Keys[0].Raw) || !bytes.Equal(back.Keys[1].Raw, l.Keys[1].Raw) {
		t.Fatalf("%s:\n%+v", out, back)
	}
	for _, s := range []string{`ext:device='laptop'`, `<ext:note>from another client</ext:note>`, `label="phone"`, `date='2019-01-01T00:00:00+0100'`} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("Marshal lost %s: %s", s, out)
		}
	}
	// The prefixes still resolve: the foreign entry reads the same.
	d := xml.NewDecoder(bytes.NewReader(out))
	var list struct {
		Keys []struct {
			Fpr    string `xml:"v4-fingerprint,attr"`
			Device string `xml:"urn:example:ext device,attr"`
			Note   string `xml:"urn:example:ext note"`
		} `xml:"urn:xmpp:openpgp:0 pubkey-metadata"`
	}
	if err := d.Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 3 || list.Keys[0].Device != "laptop" || list.Keys[0].Note != "from another client" {
		t.Errorf("%+v", list)
	}
}

// Hazard: lower-case fingerprints, duplicates, and entries that are not v4
// fingerprints.
func TestHazardMetadataFingerprints(t *testing.T) {
	in := `<public-keys-list xmlns='urn:xmpp:openpgp:0'>` +
		`<pubkey-metadata v4-fingerprint='` + strings.ToLower(fprA) + `' date='2018-03-01T15:26:12Z'/>` +
		`<pubkey-metadata v4-fingerprint='DEADBEEF' date='2018-03-01T15:26:12Z'/>` +
		`<pubkey-metadata date='2018-03-01T15:26:12Z'/>` +
		`<pubkey-metadata v4-fingerprint='` + fprB + `'/>` +
		`<pubkey-metadata v4-fingerprint='` + fprA + `' date='2020-01-01T00:00:00Z'/>` +
		`<pubkey-metadata v4-fingerprint='` + fprA + `' date='2019-01-01T00:00:00Z'/>` +
		`</public-keys-list>`
	l, err := ParsePublicKeysList([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Keys) != 2 || l.Keys[0].Fingerprint != fprA || !l.Keys[0].Date.Equal(utc(2020, 1, 1, 0, 0, 0)) ||
		l.Keys[1].Fingerprint != fprB || !l.Keys[1].Date.IsZero() || l.Keys[1].DateRaw != "" {
		t.Errorf("Keys = %+v", l.Keys)
	}
	if len(l.Skipped) != 2 || l.Skipped[0] != "DEADBEEF" || l.Skipped[1] != "" {
		t.Errorf("Skipped = %q", l.Skipped)
	}
	if fpr, ok := ParseDataNode(NodePublicKeys + ":" + strings.ToLower(fprA)); !ok || fpr != fprA {
		t.Errorf("ParseDataNode: %q, %v", fpr, ok)
	}
}

// Hazard: key data armored, with white space and a CRC line.
func TestHazardArmoredKeyData(t *testing.T) {
	asc := readTestdata(t, "keys.carol.public.asc")
	if !bytes.Contains(asc, []byte("\n=")) {
		t.Fatal("the armored key has no CRC line")
	}
	p, err := ParsePubKey([]byte("<pubkey xmlns='urn:xmpp:openpgp:0'><data>\n" + string(asc) + "\n</data></pubkey>"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Armored || p.Data[0] != 0x98 {
		t.Errorf("armored %v, first byte %x", p.Armored, p.Data[0])
	}
}

// Hazard: a legacy date attribute on <pubkey/>.
func TestHazardLegacyPubKeyDate(t *testing.T) {
	p, err := ParsePubKey([]byte("<pubkey xmlns='urn:xmpp:openpgp:0' date='2018-03-01T15:26:12+0000'><data>mAE=</data></pubkey>"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Date.Equal(utc(2018, 3, 1, 15, 26, 12)) {
		t.Errorf("Date = %v", p.Date)
	}
	if bytes.Contains(p.Marshal(), []byte("date")) {
		t.Errorf("Marshal writes the deprecated date: %s", p.Marshal())
	}
}
