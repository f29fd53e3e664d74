package element

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	fallbackGoSendXMPP = "This message is encrypted (XEP-0373: OpenPGP for XMPP)."
	fallbackXmppc      = "This message is *encrypted* with OpenPGP (See :XEP:`0373`)"
)

// The <message/> stanzas of the captured scenarios, as the server got them.
var messageVectors = []struct {
	file            string
	to, typ, id     string
	body            string
	eme             string
	store           bool
	chatState       string
	firstPacketByte byte
}{
	{"s02-gosendxmpp-to-gosendxmpp", "bob@localhost", "", "f5c65107-cc73c364-b8f5614c", fallbackGoSendXMPP, NS, true, "", 0xc1},
	{"s03-gosendxmpp-offline-delivery", "bob@localhost", "", "af8200eb-b8f82a7c-e23ac425", fallbackGoSendXMPP, NS, true, "", 0xc1},
	{"s05-gosendxmpp-to-profanity", "carol@localhost", "", "26feab4b-623eb4e3-feadc39c", fallbackGoSendXMPP, NS, true, "", 0xc1},
	{"s06-profanity-to-gosendxmpp", "alice@localhost", "chat", "wNEkOaatN5CK7gC7ab8b878026ff58339441f98990792ec03ec513b", fallbackGoSendXMPP, "", false, "active", 0x84},
	{"s07-xmppc-to-gosendxmpp", "alice@localhost", "", "a32e930b-17b0-48ba-80a1-5aefa30cd806", fallbackXmppc, "", false, "", 0x84},
	{"s08-xmppc-to-profanity", "carol@localhost", "", "87d6d4c9-7739-4cd6-b481-64598033b51d", fallbackXmppc, "", false, "", 0x84},
	{"s09-profanity-to-gosendxmpp", "bob@localhost/ngO82q7mLkqL", "chat", "75PQLwd0LXssWsT5907e0625285ffd8f1b6e34644a4414ef19c6699", fallbackGoSendXMPP, "", false, "", 0x84},
	{"s10-shared-key-gosendxmpp-profanity", "alice@localhost", "", "8e40453c-e18a65a4-70d7bff9", fallbackGoSendXMPP, NS, true, "", 0xc1},
}

func TestVectorsMessage(t *testing.T) {
	files := testdataGlob(t, "*.message-?.xml", len(messageVectors))
	if len(files) != len(messageVectors) {
		t.Fatalf("%d message vectors in testdata, %d in the table: keep them in step", len(files), len(messageVectors))
	}
	for _, v := range messageVectors {
		t.Run(v.file, func(t *testing.T) {
			in := readTestdata(t, v.file+".message-1.xml")
			m, err := ParseMessage(in)
			if err != nil {
				t.Fatal(err)
			}
			if m.ToRaw != v.to || m.To.String() != v.to || m.Type != v.typ || m.ID != v.id {
				t.Errorf("to %q (%v), type %q, id %q; want %q, %q, %q", m.ToRaw, m.To, m.Type, m.ID, v.to, v.typ, v.id)
			}
			if m.FromRaw != "" || m.From.String() != "" {
				t.Errorf("From = %q, want none (the server adds it)", m.FromRaw)
			}
			if !m.HasBody || m.Body != v.body {
				t.Errorf("Body = %q, %v; want the fallback %q", m.Body, m.HasBody, v.body)
			}
			if m.EME != v.eme || m.Store != v.store || m.ChatState != v.chatState {
				t.Errorf("EME %q, store %v, chat state %q; want %q, %v, %q", m.EME, m.Store, m.ChatState, v.eme, v.store, v.chatState)
			}
			if len(m.OpenPGP) < 100 || m.OpenPGP[0]&0x80 == 0 || m.OpenPGP[0] != v.firstPacketByte {
				t.Errorf("OpenPGP: %d bytes starting %x, want a PKESK packet tag %x", len(m.OpenPGP), m.OpenPGP[:min(4, len(m.OpenPGP))], v.firstPacketByte)
			}
			if !m.Delay.IsZero() {
				t.Errorf("Delay = %v", m.Delay)
			}
			// The <openpgp/> element alone gives the same bytes.
			i := bytes.Index(in, []byte("<openpgp"))
			j := bytes.Index(in, []byte("</openpgp>")) + len("</openpgp>")
			alone, err := ParseOpenPGP(in[i:j])
			if err != nil || !bytes.Equal(alone, m.OpenPGP) {
				t.Errorf("ParseOpenPGP: %v, equal %v", err, bytes.Equal(alone, m.OpenPGP))
			}
			if m2, err := ParseMessage(in[i:j]); err != nil || !bytes.Equal(m2.OpenPGP, m.OpenPGP) || m2.HasBody || m2.ToRaw != "" {
				t.Errorf("ParseMessage(<openpgp/>) = %+v, %v", m2, err)
			}
			// And MarshalOpenPGP writes what the senders wrote.
			if got := MarshalOpenPGP(m.OpenPGP); !bytes.Equal(got, bytes.ReplaceAll(in[i:j], []byte("'"), []byte(`"`))) {
				t.Errorf("MarshalOpenPGP:\n got %s\nwant %s", got, in[i:j])
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	const pgp = `<openpgp xmlns='urn:xmpp:openpgp:0'>wcBMA0ppt3YhbbEw</openpgp>`
	for _, tc := range []struct {
		name  string
		in    string
		check func(*testing.T, *Message)
	}{
		{"jabber:client and from", `<message xmlns='jabber:client' from='Alice@Example.org/Res' to='bob@example.org' type='chat' id='x'>` + pgp + `</message>`,
			func(t *testing.T, m *Message) {
				if m.From.String() != "alice@example.org/Res" || m.FromRaw != "Alice@Example.org/Res" || m.Type != "chat" || len(m.OpenPGP) == 0 {
					t.Errorf("%+v", m)
				}
			}},
		{"jabber:server", `<message xmlns='jabber:server' to='b@c'>` + pgp + `</message>`,
			func(t *testing.T, m *Message) {
				if len(m.OpenPGP) == 0 || m.To.String() != "b@c" {
					t.Errorf("%+v", m)
				}
			}},
		{"invalid JIDs kept raw", `<message from='@bad' to='a@b/'>` + pgp + `</message>`,
			func(t *testing.T, m *Message) {
				if m.FromRaw != "@bad" || m.From.String() != "" || m.ToRaw != "a@b/" || m.To.String() != "" {
					t.Errorf("%+v", m)
				}
			}},
		{"plain message", `<message to='b@c'><body>hi</body></message>`,
			func(t *testing.T, m *Message) {
				if m.OpenPGP != nil || !m.HasBody || m.Body != "hi" {
					t.Errorf("%+v", m)
				}
			}},
		{"first openpgp and body win", `<message to='b@c'><body>one</body><body>two</body>` + pgp +
			`<openpgp xmlns='urn:xmpp:openpgp:0'>not base64!</openpgp></message>`,
			func(t *testing.T, m *Message) {
				if m.Body != "one" || len(m.OpenPGP) == 0 {
					t.Errorf("%+v", m)
				}
			}},
		{"delay (offline delivery)", `<message to='b@c'>` + pgp + `<delay xmlns='urn:xmpp:delay' from='c' stamp='2026-11-26T11:29:34Z'/></message>`,
			func(t *testing.T, m *Message) {
				if !m.Delay.Equal(time.Date(2026, 11, 26, 11, 29, 34, 0, time.UTC)) || m.DelayRaw != "2026-11-26T11:29:34Z" {
					t.Errorf("Delay = %v (%q)", m.Delay, m.DelayRaw)
				}
			}},
		{"legacy delay", `<message to='b@c'><x xmlns='jabber:x:delay' stamp='20261126T11:29:34'/>` + pgp + `</message>`,
			func(t *testing.T, m *Message) {
				if !m.Delay.Equal(time.Date(2026, 11, 26, 11, 29, 34, 0, time.UTC)) {
					t.Errorf("Delay = %v", m.Delay)
				}
			}},
		{"XEP-0203 delay wins over legacy", `<message to='b@c'><x xmlns='jabber:x:delay' stamp='20001126T11:29:34'/><delay xmlns='urn:xmpp:delay' stamp='2026-11-26T11:29:34Z'/><delay xmlns='urn:xmpp:delay' stamp='2027-11-26T11:29:34Z'/></message>`,
			func(t *testing.T, m *Message) {
				if m.Delay.Year() != 2026 {
					t.Errorf("Delay = %v", m.Delay)
				}
			}},
		{"bad delay ignored", `<message to='b@c'><delay xmlns='urn:xmpp:delay' stamp='soon'/>` + pgp + `</message>`,
			func(t *testing.T, m *Message) {
				if !m.Delay.IsZero() || m.DelayRaw != "soon" || len(m.OpenPGP) == 0 {
					t.Errorf("%+v", m)
				}
			}},
		{"body in other namespace is not the body", `<message to='b@c'><body xmlns='urn:example'>x</body></message>`,
			func(t *testing.T, m *Message) {
				if m.HasBody {
					t.Errorf("%+v", m)
				}
			}},
		{"openpgp in other namespace ignored", `<message to='b@c'><openpgp xmlns='urn:xmpp:openpgp:1'>AAAA</openpgp></message>`,
			func(t *testing.T, m *Message) {
				if m.OpenPGP != nil {
					t.Errorf("%+v", m)
				}
			}},
		{"pretty-printed", "<message to='b@c'>\n  <body>fallback</body>\n  <openpgp xmlns='urn:xmpp:openpgp:0'>\n    wcBMA0pp\n    t3YhbbEw\n  </openpgp>\n</message>\n",
			func(t *testing.T, m *Message) {
				if !bytes.Equal(m.OpenPGP, mustB64("wcBMA0ppt3YhbbEw")) {
					t.Errorf("%+v", m)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sentinel error
		field    string
	}{
		{"not XML", "message", ErrSyntax, ""},
		{"iq", `<iq xmlns='jabber:client' type='get'/>`, ErrUnexpectedElement, ""},
		{"message in other namespace", `<message xmlns='urn:example'/>`, ErrUnexpectedElement, ""},
		{"openpgp in other namespace", `<openpgp xmlns='urn:xmpp:openpgp:1'>AAAA</openpgp>`, ErrUnexpectedElement, ""},
		{"bad base64", `<message><openpgp xmlns='urn:xmpp:openpgp:0'>not base64!</openpgp></message>`, ErrBadData, ""},
		{"empty openpgp", `<message><openpgp xmlns='urn:xmpp:openpgp:0'> </openpgp></message>`, ErrMissing, ""},
		{"not a packet", `<message><openpgp xmlns='urn:xmpp:openpgp:0'>AAAA</openpgp></message>`, ErrBadData, ""},
		{"trailing", `<message/><message/>`, ErrTrailingData, ""},
		{"too large", `<message><body>` + strings.Repeat("x", MaxSize) + `</body></message>`, ErrTooLarge, ""},
		{"too deep", `<message>` + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + `</message>`, ErrTooDeep, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", m)
			}
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
}

func TestOpenPGP(t *testing.T) {
	msg := mustB64("hF4DQ6QQ5i7AHTcSAQdA+qeLY+4/vvSymT9JuOWfevpJWANp5frHtbyruf82IVMwAxe75oFQ3ESYSQetRkI3L7TLMusmvQeCgtd6tYhgpNNVtdukhQdh9Kqi1C5zBP1O")
	b64 := base64.StdEncoding.EncodeToString(msg)
	for _, tc := range []struct{ name, in string }{
		{"marshal output", string(MarshalOpenPGP(msg))},
		{"spec example layout", "<openpgp xmlns='urn:xmpp:openpgp:0'>\n    " + b64 + "\n  </openpgp>"},
		{"wrapped lines", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + b64[:20] + "\r\n" + b64[20:40] + "\n\t " + b64[40:] + "</openpgp>"},
		{"padding missing", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + strings.TrimRight(b64, "=") + "</openpgp>"},
		{"url-safe alphabet", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + base64.URLEncoding.EncodeToString(msg) + "</openpgp>"},
		{"armored", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + armor("PGP MESSAGE", msg, "Version: GnuPG v2", "Comment: x: y") + "</openpgp>"},
		{"armored without headers or blank line", "<openpgp xmlns='urn:xmpp:openpgp:0'>-----BEGIN PGP MESSAGE-----\n" + b64 + "\n-----END PGP MESSAGE-----</openpgp>"},
		{"armored without END", "<openpgp xmlns='urn:xmpp:openpgp:0'>-----BEGIN PGP MESSAGE-----\n\n" + b64 + "\n=AAAA\n</openpgp>"},
		{"armored, CRC wrong (not checked, RFC 9580 §6.1)", "<openpgp xmlns='urn:xmpp:openpgp:0'>-----BEGIN PGP MESSAGE-----\r\n\r\n" + b64 + "\r\n=ZZZZ\r\n-----END PGP MESSAGE-----\r\n</openpgp>"},
		{"CDATA", "<openpgp xmlns='urn:xmpp:openpgp:0'><![CDATA[" + b64 + "]]></openpgp>"},
		{"unknown child ignored", "<openpgp xmlns='urn:xmpp:openpgp:0' x='1'>" + b64 + "<x/></openpgp>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOpenPGP([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("got %x\nwant %x", got, msg)
			}
		})
	}
	if got := string(MarshalOpenPGP(msg)); got != `<openpgp xmlns="urn:xmpp:openpgp:0">`+b64+`</openpgp>` {
		t.Errorf("MarshalOpenPGP = %s", got)
	}
}

func TestParseOpenPGPErrors(t *testing.T) {
	msg := mustB64("hF4DQ6QQ5i7AHTcSAQdA")
	for _, tc := range []struct {
		name, in string
		sentinel error
	}{
		{"not XML", "hF4DQ6QQ5i7AHTcSAQdA", ErrSyntax},
		{"no namespace", "<openpgp>hF4DQ6QQ5i7AHTcSAQdA</openpgp>", ErrUnexpectedElement},
		{"message", "<message/>", ErrUnexpectedElement},
		{"empty", "<openpgp xmlns='urn:xmpp:openpgp:0'/>", ErrMissing},
		{"white space only", "<openpgp xmlns='urn:xmpp:openpgp:0'>\n \n</openpgp>", ErrMissing},
		{"bad base64", "<openpgp xmlns='urn:xmpp:openpgp:0'>hF4D*Q6QQ</openpgp>", ErrBadData},
		{"padding inside", "<openpgp xmlns='urn:xmpp:openpgp:0'>hF4=DQ6QQ</openpgp>", ErrBadData},
		{"one char too many", "<openpgp xmlns='urn:xmpp:openpgp:0'>hF4DQ</openpgp>", ErrBadData},
		{"not OpenPGP", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + base64.StdEncoding.EncodeToString([]byte("<signcrypt/>")) + "</openpgp>", ErrBadData},
		{"armored public key", "<openpgp xmlns='urn:xmpp:openpgp:0'>" + armor("PGP PUBLIC KEY BLOCK", msg) + "</openpgp>", ErrBadData},
		{"armor on one line", "<openpgp xmlns='urn:xmpp:openpgp:0'>-----BEGIN PGP MESSAGE----- hF4DQ6QQ5i7AHTcSAQdA -----END PGP MESSAGE-----</openpgp>", ErrBadData},
		{"trailing", "<openpgp xmlns='urn:xmpp:openpgp:0'>hF4DQ6QQ5i7AHTcSAQdA</openpgp>x", ErrTrailingData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOpenPGP([]byte(tc.in))
			if err == nil {
				t.Fatalf("got %x, want an error", got)
			}
			wantErr(t, err, tc.sentinel, "-")
		})
	}
}

// The fast path and the full parser agree on every captured message and on
// what ox writes.
func TestParseOpenPGPFastPathAgrees(t *testing.T) {
	inputs := [][]byte{MarshalOpenPGP([]byte{0x84, 1, 2, 3}), []byte("<openpgp xmlns='urn:xmpp:openpgp:0'>hF4D</openpgp>\n")}
	files, _ := filepath.Glob(filepath.Join("testdata", "*message-*.xml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := ParseMessage(b); err == nil && m.OpenPGP != nil {
			inputs = append(inputs, MarshalOpenPGP(m.OpenPGP))
		}
	}
	for _, in := range inputs {
		fast, ok := fastOpenPGP(in)
		if !ok {
			t.Errorf("fast path declined %.60q", in)
			continue
		}
		root, _, err := parseTree(in, 1, "openpgp")
		if err != nil {
			t.Fatal(err)
		}
		slow, err := openpgpData(root)
		if err != nil || !bytes.Equal(fast, slow) {
			t.Errorf("fast %x, full %x (%v)", fast, slow, err)
		}
	}
	// Not ox's form: the full parser decides.
	for _, in := range []string{
		"<openpgp xmlns='urn:xmpp:openpgp:0'>hF4D\n</openpgp>",
		"<openpgp xmlns='urn:xmpp:openpgp:1'>hF4D</openpgp>",
		"<openpgp xmlns='urn:xmpp:openpgp:0'>aGVsbG8=</openpgp>",
		"<openpgp xmlns='urn:xmpp:openpgp:0'></openpgp>",
	} {
		if _, ok := fastOpenPGP([]byte(in)); ok {
			t.Errorf("fast path took %q", in)
		}
	}
}
