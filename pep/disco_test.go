package pep

import (
	"encoding/xml"
	"strings"
	"testing"

	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

func TestCapsVer(t *testing.T) {
	// XEP-0115 §5.2, simple generation example.
	got := capsVer([]info.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}}, []string{
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
		"http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps",
	})
	if got != "QgayPKawpkPSDYmwT/WM94uAlu0=" {
		t.Errorf("XEP-0115 example: %s", got)
	}
	// Profanity 0.13.1's disco#info answer (features unsorted as sent)
	// and the ver it announced for them, from
	// vectors/s04-profanity-announce/stanzas.log. Profanity announced
	// aHGBcRlWCk0moSumGUB9gYUpEU4= first, then Sb0R3dtmZsLSf1CuGFGYkmNdm1k=
	// once its features had changed, and it answered the server's queries
	// for both with its current features: these hash to the second.
	got = capsVer([]info.Identity{{Category: "client", Type: "console", Name: "Profanity 0.13.1"}}, []string{
		"jabber:iq:last", "urn:xmpp:message-correct:0", "http://jabber.org/protocol/mood+notify",
		"eu.siacs.conversations.axolotl.devicelist+notify", "http://jabber.org/protocol/disco#items",
		"urn:xmpp:ping", "http://jabber.org/protocol/caps", "urn:xmpp:receipts", "urn:xmpp:sid:0",
		"jabber:iq:version", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/muc",
		"http://jabber.org/protocol/chatstates", "jabber:x:conference",
	})
	if got != "Sb0R3dtmZsLSf1CuGFGYkmNdm1k=" {
		t.Errorf("profanity vector: %s", got)
	}
}

func TestCapsPresence(t *testing.T) {
	features := []string{"urn:xmpp:openpgp:im:0", Notify("urn:xmpp:openpgp:0:public-keys")}
	ver := CapsVer(features)
	reordered := CapsVer([]string{Notify("urn:xmpp:openpgp:0:public-keys"), "urn:xmpp:openpgp:im:0", "urn:xmpp:openpgp:im:0"})
	if ver != reordered {
		t.Fatalf("ver depends on order or duplicates: %s, %s", ver, reordered)
	}
	got := encodeReader(t, CapsPresence(features, "https://codeberg.org/ox/ox"))
	want := `<presence><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://codeberg.org/ox/ox" ver="` + ver + `"></c></presence>`
	if got != want {
		t.Fatalf("presence\n%s\nwant\n%s", got, want)
	}
}

func encodeReader(t *testing.T, r xml.TokenReader) string {
	t.Helper()
	var toks []xml.Token
	for {
		tok, err := r.Token()
		if tok != nil {
			toks = append(toks, xml.CopyToken(tok))
		}
		if err != nil {
			break
		}
	}
	return encode(t, toks)
}

func TestDiscoHandler(t *testing.T) {
	features := []string{"urn:xmpp:openpgp:im:0", Notify("urn:xmpp:openpgp:0:public-keys")}
	ver := CapsVer(features)
	m := mux.New(stanza.NSClient, DiscoHandler(features))
	query := func(node string) string {
		attrs := ""
		if node != "" {
			attrs = ` node='` + node + `'`
		}
		return serveStanza(t, m, `<iq xmlns='jabber:client' type='get' id='d1' from='alice@localhost' to='bob@localhost/r'>`+
			`<query xmlns='http://jabber.org/protocol/disco#info'`+attrs+`/></iq>`)
	}
	for _, node := range []string{"", "https://codeberg.org/ox/ox#" + ver} {
		resp := query(node)
		var r struct {
			Type  string `xml:"type,attr"`
			ID    string `xml:"id,attr"`
			To    string `xml:"to,attr"`
			Query struct {
				Node     string `xml:"node,attr"`
				Identity []struct {
					Category string `xml:"category,attr"`
					Type     string `xml:"type,attr"`
					Name     string `xml:"name,attr"`
				} `xml:"identity"`
				Features []struct {
					Var string `xml:"var,attr"`
				} `xml:"feature"`
			} `xml:"http://jabber.org/protocol/disco#info query"`
		}
		if err := xml.Unmarshal([]byte(resp), &r); err != nil {
			t.Fatalf("%s: %v", resp, err)
		}
		var feats []string
		for _, f := range r.Query.Features {
			feats = append(feats, f.Var)
		}
		if r.Type != "result" || r.ID != "d1" || r.To != "alice@localhost" || r.Query.Node != node ||
			len(r.Query.Identity) != 1 || r.Query.Identity[0].Category != "client" || r.Query.Identity[0].Type != "pc" ||
			strings.Join(feats, " ") != strings.Join(DiscoFeatures(features), " ") {
			t.Fatalf("node %q: answer %s", node, resp)
		}
		// The answer hashes to the ver announced.
		if got := capsVer([]info.Identity{{Category: "client", Type: "pc", Name: r.Query.Identity[0].Name}}, feats); got != ver {
			t.Fatalf("answer hashes to %s, caps say %s", got, ver)
		}
	}
	if resp := query("https://codeberg.org/ox/ox#other"); !strings.Contains(resp, `type="error"`) || !strings.Contains(resp, "item-not-found") {
		t.Fatalf("unknown node: %s", resp)
	}
}
