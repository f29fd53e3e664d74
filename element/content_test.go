package element

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// The decrypted <signcrypt/> elements of the captured scenarios.
var signcryptVectors = []struct {
	file    string
	to      string
	time    time.Time
	timeRaw string
	rpad    string // "" = do not check
	body    string
}{
	{"s02-gosendxmpp-to-gosendxmpp", "bob@localhost", utc(2026, 11, 26, 11, 29, 32), "2026-11-26T11:29:32Z",
		"e50361e5d9ad519b9f4dcc5b4fe0e146caebef7c62d2cf469c12ef69628f",
		`s02 hello bob, OX from go-sendxmpp alice <&> 'quotes' "dq" ünïcödé`},
	{"s03-gosendxmpp-offline-delivery", "bob@localhost", utc(2026, 11, 26, 11, 29, 34), "2026-11-26T11:29:34Z", "",
		"s03 offline OX message for bob"},
	{"s05-gosendxmpp-to-profanity", "carol@localhost", utc(2026, 11, 26, 11, 29, 40), "2026-11-26T11:29:40Z", "",
		"s05 hello carol, OX from go-sendxmpp alice"},
	{"s06-profanity-to-gosendxmpp", "alice@localhost", utc(2026, 11, 26, 11, 29, 46), "2026-11-26T11:29:46+0000",
		"WflB\\gQBbCD[ltOqKeYHID^kSCDXlJgOWFlrmdsBf^\\EFSAlCBshE]^sGarrjeLiR_ffNMP[jk`WeHOPeMC",
		"s06 hello alice, OX from profanity carol"},
	{"s07-xmppc-to-gosendxmpp", "alice@localhost", utc(2026, 11, 26, 11, 29, 47), "2026-11-26T11:29:47+0000", "cc",
		"s07 hello alice, OX from xmppc bob"},
	{"s08-xmppc-to-profanity", "carol@localhost", utc(2026, 11, 26, 11, 29, 58), "2026-11-26T11:29:58+0000", "cc",
		"s08 hello carol, OX from xmppc bob"},
	{"s09-profanity-to-gosendxmpp", "bob@localhost", utc(2026, 11, 26, 11, 30, 12), "2026-11-26T11:30:12+0000",
		"HhWheUEqHmkgG\\\\okCLJJcVmqM^eknBrIXMVTRR\\fdjThmNFWZk`dMA`A^llWmi`mB]hoVkHF`\\mAQrWjQCA",
		"s09 hello bob, OX from profanity carol"},
	{"s10-shared-key-gosendxmpp-profanity", "alice@localhost", utc(2026, 11, 26, 11, 30, 12), "2026-11-26T11:30:12Z", "",
		"s10 hello alice, OX from go-sendxmpp carol using profanity's key"},
}

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestVectorsSigncrypt(t *testing.T) {
	files := testdataGlob(t, "*.message-*.signcrypt.xml", len(signcryptVectors))
	if len(files) != len(signcryptVectors) {
		t.Fatalf("%d signcrypt vectors in testdata, %d in the table: keep them in step", len(files), len(signcryptVectors))
	}
	for _, v := range signcryptVectors {
		t.Run(v.file, func(t *testing.T) {
			c, err := ParseContent(readTestdata(t, v.file+".message-1.signcrypt.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if c.Kind != KindSigncrypt {
				t.Errorf("Kind = %v", c.Kind)
			}
			if len(c.To) != 1 || c.To[0].String() != v.to || len(c.BadTo) != 0 {
				t.Errorf("To = %v, BadTo = %q, want [%s]", c.To, c.BadTo, v.to)
			}
			if !c.Time.Equal(v.time) || c.Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v in UTC", c.Time, v.time)
			}
			if c.TimeRaw != v.timeRaw || c.TimeNoZone {
				t.Errorf("TimeRaw = %q (no zone %v), want %q", c.TimeRaw, c.TimeNoZone, v.timeRaw)
			}
			if v.rpad != "" && c.Rpad != v.rpad {
				t.Errorf("Rpad = %q, want %q", c.Rpad, v.rpad)
			}
			if c.Rpad == "" || c.RpadRepaired {
				t.Errorf("Rpad = %q, repaired %v", c.Rpad, c.RpadRepaired)
			}
			body, ok := c.Body()
			if !ok || body != v.body {
				t.Errorf("Body() = %q, %v; want %q", body, ok, v.body)
			}
		})
	}
}

// Re-marshalling what go-sendxmpp wrote gives its bytes back exactly (its
// format is the strict one); profanity's and xmppc's differ only in the
// time stamp, which is written in XEP-0082 form.
func TestVectorsSigncryptRemarshal(t *testing.T) {
	for _, v := range signcryptVectors {
		t.Run(v.file, func(t *testing.T) {
			in := readTestdata(t, v.file+".message-1.signcrypt.xml")
			c, err := ParseContent(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(string(in), v.timeRaw, FormatTime(v.time), 1)
			if string(out) != want {
				t.Errorf("Marshal:\n got %s\nwant %s", out, want)
			}
		})
	}
}

func TestMarshalFormat(t *testing.T) {
	c := &Content{
		Kind: KindSigncrypt,
		To:   []jid.JID{jid.MustParse("juliet@example.org/balcony"), jid.MustParse("Romeo@Example.net")},
		// Not UTC and with fractional seconds: written in UTC, truncated.
		Time:    time.Date(2014, 7, 10, 17, 6, 0, 999_000_000, time.FixedZone("CEST", 2*3600)),
		Rpad:    "a<b&c>d]]>\r\"'",
		Payload: []byte(`<body xmlns='jabber:client'>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/>`),
	}
	got, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `<signcrypt xmlns="urn:xmpp:openpgp:0">` +
		`<to jid="juliet@example.org"/><to jid="romeo@example.net"/>` +
		`<time stamp="2014-07-10T15:06:00Z"/>` +
		`<rpad>a&lt;b&amp;c&gt;d]]&gt;&#xD;"'</rpad>` +
		`<payload><body xmlns='jabber:client'>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></payload>` +
		`</signcrypt>`
	if string(got) != want {
		t.Fatalf("Marshal:\n got %s\nwant %s", got, want)
	}
	again, _ := c.Marshal()
	if !bytes.Equal(got, again) {
		t.Fatal("Marshal is not deterministic")
	}
	if bytes.HasPrefix(got, []byte("<?xml")) {
		t.Fatal("XML declaration written")
	}
	back, err := ParseContent(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Rpad != c.Rpad {
		t.Errorf("rpad round trip: %q, want %q", back.Rpad, c.Rpad)
	}
}

func TestMarshalRpadPresence(t *testing.T) {
	base := Content{To: []jid.JID{jid.MustParse("a@b")}, Time: utc(2020, 1, 1, 0, 0, 0)}
	for _, tc := range []struct {
		kind Kind
		rpad string
		want string
	}{
		{KindSigncrypt, "", "<rpad></rpad>"},
		{KindCrypt, "", "<rpad></rpad>"},
		{KindSign, "", ""},
		{KindSign, "x", "<rpad>x</rpad>"},
	} {
		c := base
		c.Kind, c.Rpad = tc.kind, tc.rpad
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		has := bytes.Contains(out, []byte("<rpad"))
		if tc.want == "" && has || tc.want != "" && !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("%v with rpad %q: %s", tc.kind, tc.rpad, out)
		}
	}
}

func TestContentRoundTrip(t *testing.T) {
	when := time.Date(2026, 11, 26, 11, 29, 46, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		kind    Kind
		to      []string
		payload string
		body    string
		hasBody bool
	}{
		{"signcrypt", KindSigncrypt, []string{"bob@localhost"}, string(BodyPayload("hello")), "hello", true},
		{"sign", KindSign, []string{"bob@localhost"}, string(BodyPayload("signed")), "signed", true},
		{"crypt without to", KindCrypt, nil, string(BodyPayload("secret")), "secret", true},
		{"several to", KindSigncrypt, []string{"a@x", "b@y", "room@muc.x"}, string(BodyPayload("hi all")), "hi all", true},
		{"special characters", KindSigncrypt, []string{"a@x"}, string(BodyPayload("<&>'\"\r\n\t ünï 😀")), "<&>'\"\r\n\t ünï 😀", true},
		{"empty payload", KindSigncrypt, []string{"a@x"}, "", "", false},
		{"no body", KindSigncrypt, []string{"a@x"}, `<composing xmlns="http://jabber.org/protocol/chatstates"/>`, "", false},
		{"more than body", KindSigncrypt, []string{"a@x"},
			string(BodyPayload("fixed")) + `<replace id="m1" xmlns="urn:xmpp:message-correct:0"/><active xmlns="http://jabber.org/protocol/chatstates"/>`,
			"fixed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var to []jid.JID
			for _, s := range tc.to {
				to = append(to, jid.MustParse(s))
			}
			c, err := NewContent(tc.kind, to, when, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseContent(out)
			if err != nil {
				t.Fatalf("ParseContent(%s): %v", out, err)
			}
			if back.Kind != tc.kind || !back.Time.Equal(when) || back.Rpad != c.Rpad || !bytes.Equal(back.Payload, c.Payload) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
			}
			if len(back.To) != len(tc.to) {
				t.Fatalf("To = %v, want %v", back.To, tc.to)
			}
			for i := range tc.to {
				if back.To[i].String() != tc.to[i] {
					t.Errorf("To[%d] = %v, want %s", i, back.To[i], tc.to[i])
				}
			}
			body, ok := back.Body()
			if body != tc.body || ok != tc.hasBody {
				t.Errorf("Body() = %q, %v; want %q, %v", body, ok, tc.body, tc.hasBody)
			}
		})
	}
}

func TestNewContent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("X", -5*3600))
	c, err := NewContent(KindSigncrypt, []jid.JID{jid.MustParse("juliet@example.org/balcony")}, now, []byte("<body>no namespace</body>"))
	if err != nil {
		t.Fatal(err)
	}
	if c.To[0].String() != "juliet@example.org" {
		t.Errorf("To = %v, want the bare JID", c.To)
	}
	if want := time.Date(2026, 1, 2, 8, 4, 5, 0, time.UTC); !c.Time.Equal(want) || c.Time.Location() != time.UTC || c.TimeRaw != "2026-01-02T08:04:05Z" {
		t.Errorf("Time = %v (%q), want %v", c.Time, c.TimeRaw, want)
	}
	if names := topLevelNames(t, c.Payload); len(names) != 1 || names[0] != (xml.Name{Space: NSClient, Local: "body"}) {
		t.Errorf("payload %s: top-level names %v, want jabber:client body", c.Payload, names)
	}
	// The padding: 0..199 alphanumerics, of varying length.
	lengths := map[int]bool{}
	for i := 0; i < 100; i++ {
		c, err := NewContent(KindCrypt, nil, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Rpad) >= 200 || strings.Trim(c.Rpad, rpadAlphabet) != "" {
			t.Fatalf("rpad %q: want < 200 characters from %s", c.Rpad, rpadAlphabet)
		}
		lengths[len(c.Rpad)] = true
	}
	// 100 uniform draws from 200 lengths give about 78 distinct values;
	// fewer than 20 means the length is not random.
	if len(lengths) < 20 {
		t.Errorf("only %d distinct rpad lengths in 100 contents", len(lengths))
	}
}

func TestNewContentErrors(t *testing.T) {
	now := time.Now()
	bob := []jid.JID{jid.MustParse("bob@example.org")}
	for _, tc := range []struct {
		name     string
		kind     Kind
		to       []jid.JID
		now      time.Time
		payload  string
		sentinel error
		field    string
	}{
		{"signcrypt without to", KindSigncrypt, nil, now, "", ErrNoRecipient, "to"},
		{"sign without to", KindSign, nil, now, "", ErrNoRecipient, "to"},
		{"zero kind", 0, bob, now, "", ErrInvalid, ""},
		{"unknown kind", 7, bob, now, "", ErrInvalid, ""},
		{"empty JID", KindSigncrypt, []jid.JID{{}}, now, "", ErrInvalid, "to"},
		{"zero time", KindSigncrypt, bob, time.Time{}, "", ErrInvalid, "time"},
		{"year 10000", KindSigncrypt, bob, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", ErrInvalid, "time"},
		{"payload not well-formed", KindSigncrypt, bob, now, "<body>", ErrInvalid, "payload"},
		{"payload closes payload", KindSigncrypt, bob, now, "</payload><payload>", ErrInvalid, "payload"},
		{"payload with DOCTYPE", KindSigncrypt, bob, now, "<!DOCTYPE x><body/>", ErrInvalid, "payload"},
		{"payload with XML declaration", KindSigncrypt, bob, now, "<?xml version='1.0'?><body/>", ErrInvalid, "payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewContent(tc.kind, tc.to, tc.now, []byte(tc.payload))
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	ok := Content{Kind: KindSigncrypt, To: []jid.JID{jid.MustParse("a@b")}, Time: utc(2020, 1, 1, 0, 0, 0)}
	for _, tc := range []struct {
		name     string
		mod      func(*Content)
		sentinel error
		field    string
	}{
		{"signcrypt without to", func(c *Content) { c.To = nil }, ErrNoRecipient, "to"},
		{"sign without to", func(c *Content) { c.Kind, c.To = KindSign, nil }, ErrNoRecipient, "to"},
		{"zero kind", func(c *Content) { c.Kind = 0 }, ErrInvalid, ""},
		{"zero time", func(c *Content) { c.Time = time.Time{} }, ErrInvalid, "time"},
		{"negative year", func(c *Content) { c.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid, "time"},
		{"bad payload", func(c *Content) { c.Payload = []byte("<a><b></a>") }, ErrInvalid, "payload"},
		{"payload escapes", func(c *Content) { c.Payload = []byte("</payload><time stamp='2000-01-01T00:00:00Z'/><payload>") }, ErrInvalid, "payload"},
		{"too large", func(c *Content) { c.Payload = BodyPayload(strings.Repeat("x", MaxSize)) }, ErrTooLarge, "payload"},
		{"too large with rpad", func(c *Content) { c.Rpad = strings.Repeat("x", MaxSize) }, ErrTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := c.Marshal()
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
	c := ok
	c.Kind, c.To = KindCrypt, nil
	if _, err := c.Marshal(); err != nil {
		t.Errorf("crypt without to: %v, want no error (XEP-0373 §3.1: to is optional)", err)
	}
}

// Every strict error of ParseContent, asserted by sentinel and field.
func TestParseContentErrors(t *testing.T) {
	const (
		head = `<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='a@b'/>`
		tm   = `<time stamp='2020-01-01T00:00:00Z'/>`
		pl   = `<payload><body xmlns='jabber:client'>x</body></payload>`
		tail = `</signcrypt>`
	)
	deep := head + tm + "<payload>" + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</payload>" + tail
	for _, tc := range []struct {
		name, in string
		sentinel error
		field    string
	}{
		{"empty input", "", ErrSyntax, ""},
		{"not XML", "hello, world", ErrSyntax, ""},
		{"truncated", head + tm + pl, ErrSyntax, ""},
		{"mismatched tags", head + tm + "<payload></body></payload>" + tail, ErrSyntax, ""},
		{"undefined entity", head + tm + "<payload>&nbsp;</payload>" + tail, ErrSyntax, ""},
		{"DOCTYPE", "<!DOCTYPE signcrypt>" + head + tm + pl + tail, ErrSyntax, ""},
		{"late XML declaration", "\n<?xml version='1.0'?>" + head + tm + pl + tail, ErrSyntax, ""},
		{"wrong root", `<message xmlns='urn:xmpp:openpgp:0'/>`, ErrUnexpectedElement, ""},
		{"SCE envelope", `<envelope xmlns='urn:xmpp:sce:1'><content/></envelope>`, ErrUnexpectedElement, ""},
		{"no namespace", `<signcrypt><to jid='a@b'/>` + tm + pl + tail, ErrUnexpectedElement, ""},
		{"wrong namespace", `<signcrypt xmlns='urn:xmpp:openpgp:1'>` + tm + pl + tail, ErrUnexpectedElement, ""},
		{"openpgp element", `<openpgp xmlns='urn:xmpp:openpgp:0'>AAAA</openpgp>`, ErrUnexpectedElement, ""},
		{"missing time", head + pl + tail, ErrMissing, "time"},
		{"time nested too deep", head + "<x>" + tm + "</x>" + pl + tail, ErrMissing, "time"},
		{"two times", head + tm + tm + pl + tail, ErrDuplicate, "time"},
		{"time without stamp", head + "<time/>" + pl + tail, ErrMissing, "time"},
		{"unparsable stamp", head + "<time stamp='yesterday'/>" + pl + tail, ErrBadTime, "time"},
		{"empty stamp", head + "<time stamp=''/>" + pl + tail, ErrBadTime, "time"},
		{"bad date", head + "<time stamp='2020-02-30T00:00:00Z'/>" + pl + tail, ErrBadTime, "time"},
		{"missing payload", head + tm + tail, ErrMissing, "payload"},
		{"two payloads", head + tm + pl + pl + tail, ErrDuplicate, "payload"},
		{"trailing text", head + tm + pl + tail + "garbage", ErrTrailingData, ""},
		{"second root", head + tm + pl + tail + head + tm + pl + tail, ErrTrailingData, ""},
		{"trailing broken XML", head + tm + pl + tail + "<", ErrTrailingData, ""},
		{"text before root", "x" + head + tm + pl + tail, ErrSyntax, ""},
		{"too large", head + tm + "<payload><body xmlns='jabber:client'>" + strings.Repeat("x", MaxSize) + "</body></payload>" + tail, ErrTooLarge, ""},
		{"too deep", deep, ErrTooDeep, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseContent([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", c)
			}
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
}

func TestParseContentLimitsBoundary(t *testing.T) {
	// Exactly MaxDepth levels is fine: signcrypt, payload and 62 more.
	in := `<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/><payload>` +
		strings.Repeat("<a>", MaxDepth-2) + strings.Repeat("</a>", MaxDepth-2) + `</payload></signcrypt>`
	if _, err := ParseContent([]byte(in)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

// Tolerated: white space, comments, an XML declaration, a BOM, unknown
// elements and attributes.
func TestParseContentTolerant(t *testing.T) {
	in := "\ufeff<?xml version='1.0' encoding='UTF-8'?>\n<!-- pretty -->\n" + `<signcrypt xmlns='urn:xmpp:openpgp:0' extra='1'>
  <to jid='juliet@example.org' x='y'/>
  <from jid='romeo@example.net'/>
  <future xmlns='urn:example:future'><time stamp='1999-01-01T00:00:00Z'/></future>
  <time stamp='2014-07-10T17:06:00+02:00'/>
  <rpad>
    f0rm1l4n4-mT8y33j!Y%fRSrcd^ZE4Q7VDt1L%WEgR!kv
  </rpad>
  <payload>
    <body xmlns='jabber:client'>
      This is a secret message.
    </body>
  </payload>
</signcrypt>
<!-- after -->
`
	c, err := ParseContent([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Time.Equal(utc(2014, 7, 10, 15, 6, 0)) {
		t.Errorf("Time = %v", c.Time)
	}
	if len(c.To) != 1 || c.To[0].String() != "juliet@example.org" {
		t.Errorf("To = %v", c.To)
	}
	if body, ok := c.Body(); !ok || body != "\n      This is a secret message.\n    " {
		t.Errorf("Body() = %q, %v", body, ok)
	}
	if want := "\n    f0rm1l4n4-mT8y33j!Y%fRSrcd^ZE4Q7VDt1L%WEgR!kv\n  "; c.Rpad != want {
		t.Errorf("Rpad = %q, want %q", c.Rpad, want)
	}
}

func TestBody(t *testing.T) {
	for _, tc := range []struct {
		name, payload, body string
		ok                  bool
	}{
		{"jabber:client", `<body xmlns='jabber:client'>a</body>`, "a", true},
		{"jabber:server", `<body xmlns='jabber:server'>b</body>`, "b", true},
		{"no namespace", `<body>c</body>`, "c", true},
		{"first of several", `<body xmlns='jabber:client' xml:lang='de'>eins</body><body xmlns='jabber:client'>one</body>`, "eins", true},
		{"other namespace", `<body xmlns='urn:example'>no</body>`, "", false},
		{"nested", `<x xmlns='jabber:client'><body>no</body></x>`, "", false},
		{"CDATA and entities", `<body xmlns='jabber:client'>&lt;<![CDATA[<&>]]>&#x1F600;</body>`, "<<&>😀", true},
		{"empty body", `<body xmlns='jabber:client'/>`, "", true},
		{"none", `<active xmlns='http://jabber.org/protocol/chatstates'/>`, "", false},
		{"broken payload", `<body>`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Content{Payload: []byte(tc.payload)}
			body, ok := c.Body()
			if body != tc.body || ok != tc.ok {
				t.Errorf("Body() = %q, %v; want %q, %v", body, ok, tc.body, tc.ok)
			}
		})
	}
	if body := BodyPayload("a\r\nb<&>"); string(body) != `<body xmlns="jabber:client">a&#xD;
b&lt;&amp;&gt;</body>` {
		t.Errorf("BodyPayload = %s", body)
	}
	if body := BodyPayload("bad \x00 \xff"); string(body) != "<body xmlns=\"jabber:client\">bad \uFFFD \uFFFD</body>" {
		t.Errorf("BodyPayload = %q", body)
	}
}

// Namespaces declared outside <payload/> survive into Payload, so each
// child can be parsed on its own by a library user.
func TestPayloadNamespaces(t *testing.T) {
	in := `<signcrypt xmlns='urn:xmpp:openpgp:0' xmlns:cs='http://jabber.org/protocol/chatstates' xmlns:unused='urn:x'>` +
		`<to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/>` +
		`<payload xmlns:r='urn:xmpp:reply:0'>` +
		`<body>plain</body>` + // inherits urn:xmpp:openpgp:0: taken as jabber:client
		`<cs:active/>` +
		`<r:reply to='b@c/d' id='m1'><r:inner/></r:reply>` +
		`<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>x</p></body></html>` +
		`<none xmlns=''/>` +
		`</payload></signcrypt>`
	c, err := ParseContent([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []xml.Name{
		{Space: NSClient, Local: "body"},
		{Space: NSChatStates, Local: "active"},
		{Space: "urn:xmpp:reply:0", Local: "reply"},
		{Space: "http://jabber.org/protocol/xhtml-im", Local: "html"},
		{Space: "", Local: "none"},
	}
	got := topLevelNames(t, c.Payload)
	if len(got) != len(want) {
		t.Fatalf("payload %s: names %v, want %v", c.Payload, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("child %d: %v, want %v (payload %s)", i, got[i], want[i], c.Payload)
		}
	}
	if body, ok := c.Body(); !ok || body != "plain" {
		t.Errorf("Body() = %q, %v", body, ok)
	}
	// Children are kept byte for byte apart from added declarations.
	for _, s := range []string{`<r:inner/></r:reply>`, `<p>x</p>`, ` to='b@c/d' id='m1'>`} {
		if !bytes.Contains(c.Payload, []byte(s)) {
			t.Errorf("payload %s lost %s", c.Payload, s)
		}
	}
	// And Payload is stable under Marshal + ParseContent.
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseContent(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Payload, c.Payload) {
		t.Errorf("payload changed on round trip:\n got %s\nwant %s", back.Payload, c.Payload)
	}
}

// Payload bombs: namespace declarations copied into many children must
// not make the output grow without bound.
func TestPayloadNamespaceBomb(t *testing.T) {
	var decls strings.Builder
	for i := 0; i < 100; i++ {
		decls.WriteString(" xmlns:p" + strings.Repeat("x", i) + "='" + strings.Repeat("u", 1000) + "'")
	}
	in := `<signcrypt xmlns='urn:xmpp:openpgp:0'` + decls.String() + `><to jid='a@b'/><time stamp='2020-01-01T00:00:00Z'/><payload>` +
		strings.Repeat("<a/>", 5000) + `</payload></signcrypt>`
	_, err := ParseContent([]byte(in))
	wantErr(t, err, ErrTooLarge, "payload")
}
