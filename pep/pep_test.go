package pep

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// vectorLines returns the IQs of a vector file, one per line.
func vectorLines(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(string(readTestdata(t, name)), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

var firstItem = regexp.MustCompile(`<item id='([^']*)'[^>]*>(.*?)</item>`)

func TestParseItemsVectors(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
		node string
	}{
		{"alice-gosendxmpp.owner.xml", 1, "urn:xmpp:openpgp:0:public-keys"},
		{"alice-gosendxmpp.owner.xml", 2, "urn:xmpp:openpgp:0:public-keys:73E8035BCB948EB3533F153767EE3E8BF07535FA"},
		{"carol-profanity.as-alice.xml", 1, "urn:xmpp:openpgp:0:public-keys"},
		{"carol-profanity.as-alice.xml", 2, "urn:xmpp:openpgp:0:public-keys:8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0"},
		{"s11-secret-key-publish-as-owner.xml", 1, "urn:xmpp:openpgp:0:secret-key"},
	} {
		t.Run(fmt.Sprintf("%s:%d", c.file, c.line+1), func(t *testing.T) {
			line := vectorLines(t, c.file)[c.line]
			if !strings.Contains(line, "node='"+c.node+"'") {
				t.Fatalf("vector line is not the items of %s", c.node)
			}
			items, err := parseItems([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			m := firstItem.FindStringSubmatch(line)
			if len(items) != 1 || items[0].ID != m[1] {
				t.Fatalf("items %q, want one item %q", ids(items), m[1])
			}
			if !sameXML(t, items[0].Payload, []byte(m[2])) {
				t.Fatalf("payload\n%s\nwant\n%s", items[0].Payload, m[2])
			}
		})
	}
}

func TestParseItemsEdgeCases(t *testing.T) {
	for name, c := range map[string]struct {
		resp string
		ids  []string
	}{
		"empty result":    {`<iq type='result'/>`, nil},
		"no items":        {`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'/></pubsub></iq>`, nil},
		"id-only item":    {`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'><item id='a'/></items></pubsub></iq>`, []string{"a"}},
		"item without id": {`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'><item><p xmlns='x'/></item></items></pubsub></iq>`, []string{""}},
		"rsm set after items": {`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'><item id='a'><p xmlns='x'/></item>` +
			`<item id='b'><p xmlns='x'/></item></items><set xmlns='http://jabber.org/protocol/rsm'><count>2</count></set></pubsub></iq>`, []string{"a", "b"}},
	} {
		t.Run(name, func(t *testing.T) {
			items, err := parseItems([]byte(c.resp))
			if err != nil || strings.Join(ids(items), ",") != strings.Join(c.ids, ",") {
				t.Fatalf("%q, %v; want %q", ids(items), err, c.ids)
			}
		})
	}
	if _, err := parseItems([]byte(`<iq type='result'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'><item id='a'><p>`)); err == nil {
		t.Fatal("truncated response parsed")
	}
}

func TestParseConfigVectors(t *testing.T) {
	for _, c := range []struct {
		file   string
		line   int
		access string
	}{
		{"alice-gosendxmpp.owner.xml", 3, "open"},    // go-sendxmpp sends publish-options access_model=open
		{"carol-profanity.owner.xml", 3, "presence"}, // profanity sends none: Prosody's default
	} {
		opts, err := parseConfig([]byte(vectorLines(t, c.file)[c.line]))
		if err != nil {
			t.Fatal(err)
		}
		want := Options{
			AccessModel: c.access, MaxItems: "1", PersistItems: "1", DeliverPayloads: "1",
			SendLastItem: "on_sub_and_presence", "pubsub#publish_model": "publishers",
		}
		for k, v := range want {
			if opts[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", c.file, k, opts[k], v, opts)
			}
		}
		if _, ok := opts["FORM_TYPE"]; ok {
			t.Errorf("FORM_TYPE in %v", opts)
		}
		if _, ok := opts["pubsub#title"]; ok {
			t.Errorf("field without value in %v", opts)
		}
	}
	if _, err := parseConfig([]byte(`<iq type='result'/>`)); err == nil {
		t.Fatal("empty configure result parsed")
	}
}

func TestIQErrorVectors(t *testing.T) {
	lines := vectorLines(t, "s11-publish-options-precondition.xml")
	if iqError([]byte(lines[0])) != nil {
		t.Fatal("result IQ taken for an error")
	}
	if id := publishedID([]byte(lines[0])); id != "a" {
		t.Fatalf("published id %q", id)
	}
	se := iqError([]byte(lines[1]))
	if se == nil || se.Condition != "conflict" || se.App != "precondition-not-met" || se.AppNS != NSPubSubErrors ||
		se.Type != "cancel" || se.Text != "Field does not match: access_model" {
		t.Fatalf("precondition: %+v", se)
	}
	if !optionsRefused(se) || errors.Is(se, ErrNotFound) || errors.Is(se, ErrForbidden) {
		t.Fatalf("precondition classified wrong: %v", se)
	}
	se = iqError(readTestdata(t, "s11-secret-key-fetch-as-contact.xml"))
	if se == nil || se.Condition != "forbidden" || !errors.Is(se, ErrForbidden) || errors.Is(se, ErrNotFound) {
		t.Fatalf("whitelist fetch: %+v", se)
	}
	wrapped := wrap("items of n", se)
	if !errors.Is(wrapped, ErrForbidden) || !strings.HasPrefix(wrapped.Error(), "pep: ") {
		t.Fatalf("wrapped: %v", wrapped)
	}
	var back *StanzaError
	if !errors.As(wrapped, &back) || back != se {
		t.Fatal("errors.As does not find the StanzaError")
	}
	if se := iqError([]byte(`<iq type='error'/>`)); se == nil || se.Condition != "undefined-condition" {
		t.Fatalf("error without <error/>: %+v", se)
	}
	// The original payload before <error/> (RFC 6120 §8.3.1) is skipped.
	se = iqError([]byte(`<iq type='error'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub>` +
		`<error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='publish-options'/></error></iq>`))
	if se == nil || se.Condition != "feature-not-implemented" || se.App != "unsupported" || se.Feature != "publish-options" ||
		!errors.Is(se, ErrUnsupported) || !optionsRefused(se) {
		t.Fatalf("unsupported publish-options: %+v", se)
	}
}

func TestStanzaErrorIs(t *testing.T) {
	for _, c := range []struct {
		se   StanzaError
		want error
	}{
		{StanzaError{Condition: "item-not-found"}, ErrNotFound},
		{StanzaError{Condition: "forbidden"}, ErrForbidden},
		{StanzaError{Condition: "not-authorized"}, ErrForbidden},
		{StanzaError{Condition: "not-allowed", App: "closed-node"}, ErrForbidden},
		{StanzaError{Condition: "not-authorized", App: "presence-subscription-required"}, ErrForbidden},
		{StanzaError{Condition: "not-authorized", App: "not-in-roster-group"}, ErrForbidden},
		{StanzaError{Condition: "subscription-required"}, ErrForbidden},
		{StanzaError{Condition: "service-unavailable"}, ErrUnsupported},
		{StanzaError{Condition: "feature-not-implemented"}, ErrUnsupported},
		{StanzaError{Condition: "conflict", App: "precondition-not-met"}, nil},
		{StanzaError{Condition: "internal-server-error"}, nil},
	} {
		for _, s := range []error{ErrNotFound, ErrForbidden, ErrUnsupported} {
			if got := errors.Is(&c.se, s); got != (s == c.want) {
				t.Errorf("errors.Is(%v, %v) = %v", &c.se, s, got)
			}
		}
	}
}

func TestNewest(t *testing.T) {
	item := func(id string) Item { return Item{ID: id, Payload: []byte("<p xmlns='x'>" + id + "</p>")} }
	for _, c := range []struct {
		name  string
		ids   []string
		want  string
		empty bool
	}{
		{name: "none", empty: true},
		{name: "one", ids: []string{"current"}, want: "current"},
		{name: "timestamps out of order", ids: []string{"2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z", "2026-03-01T11:00:00Z"}, want: "2026-03-01T12:00:00Z"},
		{name: "offsets and fractions", ids: []string{"2026-03-01T12:30:00+02:00", "2026-03-01T10:00:00.5Z", "2026-03-01T11:00:00+0200"}, want: "2026-03-01T12:30:00+02:00"},
		{name: "fractions", ids: []string{"2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00Z"}, want: "2026-03-01T10:00:00.5Z"},
		{name: "tie: the last", ids: []string{"2026-03-01T10:00:00Z", "2026-03-01T12:00:00+02:00"}, want: "2026-03-01T12:00:00+02:00"},
		{name: "uuids: document order", ids: []string{"71f65d70-6340-42fc-bdb7-3d60065606d7", "acbff894-c706-4c2b-9429-9ee068ee8d20"}, want: "acbff894-c706-4c2b-9429-9ee068ee8d20"},
		{name: "mixed: document order", ids: []string{"2026-03-01T12:00:00Z", "current", "2026-03-01T10:00:00Z"}, want: "2026-03-01T10:00:00Z"},
		{name: "date only is not a date-time", ids: []string{"2026-03-02", "2026-03-01T10:00:00Z"}, want: "2026-03-01T10:00:00Z"},
	} {
		var items []Item
		for _, id := range c.ids {
			items = append(items, item(id))
		}
		got, ok := Newest(items)
		if ok == c.empty || got.ID != c.want || (ok && !bytes.Equal(got.Payload, item(c.want).Payload)) {
			t.Errorf("%s: Newest = %q, %v; want %q", c.name, got.ID, ok, c.want)
		}
	}
}

func TestOptionsKeys(t *testing.T) {
	o := Options{MaxItems: "1", AccessModel: "open", DeliverPayloads: "false", "a": "b"}
	if got := strings.Join(o.keys(), " "); got != "pubsub#access_model a pubsub#deliver_payloads pubsub#max_items" {
		t.Fatalf("keys %q", got)
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{{"1", "true", true}, {"0", "false", true}, {"true", "false", false}, {"open", "open", true}, {"open", "presence", false}, {"1", "10", false}} {
		if sameValue(c.a, c.b) != c.same {
			t.Errorf("sameValue(%q, %q) != %v", c.a, c.b, c.same)
		}
	}
}

// encode writes tokens as mellium's session would (xml.Encoder after
// dropping xmlns attributes on namespaced elements).
func encode(t *testing.T, toks []xml.Token) string {
	t.Helper()
	var b bytes.Buffer
	e := xml.NewEncoder(&b)
	for _, tok := range toks {
		if s, ok := tok.(xml.StartElement); ok {
			attrs := s.Attr[:0:0]
			for _, a := range s.Attr {
				if a.Name.Local == "xmlns" && s.Name.Space != "" {
					continue
				}
				attrs = append(attrs, a)
			}
			s.Attr = attrs
			tok = s
		}
		if err := e.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPublishRequest(t *testing.T) {
	payload := []byte(`<?xml version="1.0"?><!-- c --> <pubkey xmlns='urn:xmpp:openpgp:0'><data>QUJD</data><x:y xmlns:x='urn:x' a='&amp;'><plain xmlns=''/></x:y></pubkey> `)
	toks, err := payloadTokens(payload, NSPubSub)
	if err != nil {
		t.Fatal(err)
	}
	inner := elem("", "publish", []xml.Attr{attr("node", "n")}, elem("", "item", []xml.Attr{attr("id", "i")}, toks...)...)
	inner = append(inner, elem("", "publish-options", nil, formTokens(formPublishOptions, Options{MaxItems: "1", AccessModel: "open"})...)...)
	got := encode(t, elem(NSPubSub, "pubsub", nil, inner...))
	want := `<pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="n"><item id="i">` +
		`<pubkey xmlns="urn:xmpp:openpgp:0"><data xmlns="urn:xmpp:openpgp:0">QUJD</data><y xmlns="urn:x" a="&amp;"><plain xmlns=""></plain></y></pubkey>` +
		`</item></publish><publish-options><x xmlns="jabber:x:data" type="submit">` +
		`<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
		`<field var="pubsub#access_model"><value>open</value></field><field var="pubsub#max_items"><value>1</value></field>` +
		`</x></publish-options></pubsub>`
	if got != want {
		t.Fatalf("request\n%s\nwant\n%s", got, want)
	}
	// What goes out means what came in.
	asItems := strings.NewReplacer("<publish ", "<items ", "</publish>", "</items>").Replace(got)
	items, err := parseItems([]byte(`<iq type='result'>` + asItems + `</iq>`))
	if err != nil || len(items) != 1 || !sameXML(t, items[0].Payload, payload) {
		t.Fatalf("round trip: %v, %v", items, err)
	}
}

func TestPayloadTokensRefuses(t *testing.T) {
	for name, p := range map[string]string{
		"empty":        "  ",
		"two roots":    "<a/><b/>",
		"text outside": "x<a/>",
		"unclosed":     "<a>",
		"doctype":      "<!DOCTYPE a><a/>",
		"no element":   "<!-- c -->",
	} {
		if _, err := payloadTokens([]byte(p), NSPubSub); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestXMLWriter(t *testing.T) {
	in := `<r xmlns='urn:r' xmlns:p='urn:p' p:a='1' xml:lang='de' b='"&lt;&#9;'><p:c p:d='2'>t&amp;&lt;&#xD;</p:c><e xmlns=''/><f/></r>`
	d := xml.NewDecoder(strings.NewReader(in))
	got, err := readElement(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `<r xmlns="urn:r" xmlns:ns1="urn:p" ns1:a="1" xml:lang="de" b="&quot;&lt;&#x9;"><c xmlns="urn:p" ns1:d="2">t&amp;&lt;&#xD;</c><e xmlns=""/><f/></r>`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !sameXML(t, got, []byte(in)) {
		t.Fatal("meaning changed")
	}
	if _, err := readElement(xml.NewDecoder(strings.NewReader(strings.Repeat("<a>", maxDepth+1))), 0); !errors.Is(err, errTooLarge) {
		t.Fatalf("deep nesting: %v", err)
	}
	if _, err := readElement(xml.NewDecoder(strings.NewReader("<a>"+strings.Repeat("x", 100)+"</a>")), 50); !errors.Is(err, errTooLarge) {
		t.Fatalf("limit: %v", err)
	}
}
