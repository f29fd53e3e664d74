package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

func TestParseEventVectors(t *testing.T) {
	metadata := `<public-keys-list xmlns="urn:xmpp:openpgp:0"><pubkey-metadata v4-fingerprint="1357B01865B2503C18453D208CAC2A9678548E35" date="2026-01-01T00:00:00Z"/></public-keys-list>`
	handmade := `<public-keys-list xmlns="urn:xmpp:openpgp:0" xml:lang="en">
          <pubkey-metadata v4-fingerprint="1357B01865B2503C18453D208CAC2A9678548E35" date="2026-01-02T00:00:00Z"/>
        </public-keys-list>`
	for _, c := range []struct {
		file      string
		from      string
		node      string
		items     []Item
		retracted []string
		deleted   bool
		purged    bool
	}{
		{file: "event-prosody-payload.xml", from: "alice@localhost", node: "urn:xmpp:openpgp:0:public-keys",
			items: []Item{{ID: "a5810c0c-5b7a-48db-ac5a-9e78fc586c3f", Payload: []byte(metadata)}}},
		{file: "event-prosody-notification-only.xml", from: "alice@localhost", node: "test:quiet",
			items: []Item{{ID: "2026-01-01T00:00:00Z"}}},
		{file: "event-prosody-retract.xml", from: "alice@localhost", node: "test:retract", retracted: []string{"a"}},
		{file: "event-prosody-delete.xml", from: "alice@localhost", node: "test:delete", deleted: true},
		{file: "event-xep0060-delete-redirect.xml", from: "pubsub.shakespeare.lit", node: "princely_musings", deleted: true},
		{file: "event-xep0060-purge.xml", from: "pubsub.shakespeare.lit", node: "princely_musings", purged: true},
		{file: "event-handmade-client-ns.xml", from: "juliet@capulet.lit", node: "urn:xmpp:openpgp:0:public-keys",
			items:     []Item{{ID: "2026-01-02T00:00:00Z", Payload: []byte(handmade)}, {ID: "current"}},
			retracted: []string{"old"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			ev, ok, err := ParseEvent(readTestdata(t, c.file))
			if err != nil || !ok {
				t.Fatalf("ParseEvent: %v, %v", ok, err)
			}
			if !ev.From.Equal(jid.MustParse(c.from)) || ev.Node != c.node || ev.Deleted != c.deleted || ev.Purged != c.purged ||
				strings.Join(ev.Retracted, " ") != strings.Join(c.retracted, " ") || len(ev.Items) != len(c.items) {
				t.Fatalf("got %+v", ev)
			}
			for i, it := range ev.Items {
				want := c.items[i]
				if it.ID != want.ID {
					t.Errorf("item %d: id %q, want %q", i, it.ID, want.ID)
				}
				if (it.Payload == nil) != (want.Payload == nil) {
					t.Fatalf("item %d: payload %q, want %q", i, it.Payload, want.Payload)
				}
				if want.Payload != nil && !sameXML(t, it.Payload, want.Payload) {
					t.Errorf("item %d: payload\n%s\nwant\n%s", i, it.Payload, want.Payload)
				}
			}
		})
	}
}

func TestParseEventPayloadIsSelfContained(t *testing.T) {
	ev, _, err := ParseEvent(readTestdata(t, "event-handmade-client-ns.xml"))
	if err != nil {
		t.Fatal(err)
	}
	p := string(ev.Items[0].Payload)
	// The prefixed namespace of the capture is declared as the default
	// namespace of the payload root; xml:lang keeps its prefix.
	if !strings.HasPrefix(p, `<public-keys-list xmlns="urn:xmpp:openpgp:0" xml:lang="en">`) {
		t.Fatalf("payload %s", p)
	}
	if strings.Contains(p, "ox:") || strings.Contains(p, "pubsub") {
		t.Fatalf("payload carries context from the stanza: %s", p)
	}
}

func TestParseEventNotAnEvent(t *testing.T) {
	for name, data := range map[string]string{
		"chat message (s02)": string(readTestdata(t, "s02-message-1.xml")),
		"iq":                 `<iq type='result' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>`,
		"presence":           `<presence from='a@b'/>`,
		"message in another namespace": `<message xmlns='urn:example'><event xmlns='http://jabber.org/protocol/pubsub#event'>` +
			`<items node='x'/></event></message>`,
		"event in another namespace": `<message><event xmlns='urn:example'><items node='x'/></event></message>`,
		"empty message":              `<message/>`,
	} {
		t.Run(name, func(t *testing.T) {
			ev, ok, err := ParseEvent([]byte(data))
			if ok || err != nil || ev != nil {
				t.Fatalf("got %+v, %v, %v; want not an event", ev, ok, err)
			}
		})
	}
}

func TestParseEventErrors(t *testing.T) {
	for name, data := range map[string]string{
		"items without node": `<message from='a@b'><event xmlns='http://jabber.org/protocol/pubsub#event'><items/></event></message>`,
		"empty event":        `<message from='a@b'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>`,
		"two nodes": `<message from='a@b'><event xmlns='http://jabber.org/protocol/pubsub#event'>` +
			`<items node='x'/><delete node='y'/></event></message>`,
		"retract without id": `<message from='a@b'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='x'><retract/></items></event></message>`,
		"bad from":           `<message from='@@'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='x'/></event></message>`,
		"truncated":          `<message from='a@b'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='x'><item id='1'><p xmlns='x'>`,
		"not XML":            `not xml`,
		"too large":          `<message>` + strings.Repeat(" ", maxStanza) + `</message>`,
	} {
		t.Run(name, func(t *testing.T) {
			ev, _, err := ParseEvent([]byte(data))
			if err == nil {
				t.Fatalf("got %+v, want an error", ev)
			}
			if !strings.HasPrefix(err.Error(), "pep: ") {
				t.Errorf("error %q does not start with pep:", err)
			}
		})
	}
}

// serveStanza runs one stanza through a mux as a session's Serve loop
// would, and returns what the handlers wrote.
func serveStanza(t *testing.T, m *mux.ServeMux, data string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(data))
	start, err := rootStart(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := xml.NewEncoder(&out)
	rw := struct {
		xml.TokenReader
		xmlstream.Encoder
	}{TokenReader: xmlstream.InnerElement(d), Encoder: e} // as Session.Serve does
	if err := m.HandleXMPP(rw, &start); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestHandleEvents(t *testing.T) {
	var got []Event
	m := mux.New(stanza.NSClient, HandleEvents(func(ctx context.Context, e Event) {
		if ctx == nil {
			t.Error("nil context")
		}
		got = append(got, e)
	}))
	// The payload event comes twice, as Prosody sends it (to the bare and
	// to the full JID, same id): passed on once.
	for _, f := range []string{"event-prosody-payload.xml", "event-prosody-payload.xml", "event-prosody-notification-only.xml", "event-xep0060-purge.xml"} {
		// The captures leave the stream's namespace implied.
		serveStanza(t, m, strings.Replace(string(readTestdata(t, f)), "<message ", "<message xmlns='jabber:client' ", 1))
	}
	// Without a type (normal), with a body beside the event.
	serveStanza(t, m, `<message xmlns='jabber:client' from='carol@localhost'><body>hi</body>`+
		`<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'><item id='i'><p xmlns='urn:x'/></item></items></event></message>`)
	// Broken events and other messages are dropped without an error.
	serveStanza(t, m, `<message xmlns='jabber:client' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items/></event></message>`)
	serveStanza(t, m, `<message xmlns='jabber:client' type='chat'><body>hi</body></message>`)

	var nodes []string
	for _, e := range got {
		nodes = append(nodes, e.Node)
	}
	if strings.Join(nodes, " ") != "urn:xmpp:openpgp:0:public-keys test:quiet princely_musings n" {
		t.Fatalf("events for %q", nodes)
	}
	if last := got[3]; !last.From.Equal(jid.MustParse("carol@localhost")) || len(last.Items) != 1 || !sameXML(t, last.Items[0].Payload, []byte(`<p xmlns='urn:x'/>`)) {
		t.Fatalf("last event %+v", last)
	}
	if got[1].Items[0].Payload != nil {
		t.Fatalf("notification-only item has a payload: %s", got[1].Items[0].Payload)
	}
}

func TestReadElementStopsAtEnd(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(`  <a xmlns='urn:a'><b/></a><c/>`))
	data, err := readElement(d, 0)
	if err != nil || string(data) != `<a xmlns="urn:a"><b/></a>` {
		t.Fatalf("%s, %v", data, err)
	}
	tok, err := d.Token()
	if s, ok := tok.(xml.StartElement); err != nil || !ok || s.Name.Local != "c" {
		t.Fatalf("next token %v, %v: readElement read too far", tok, err)
	}
	if _, err := readElement(xml.NewDecoder(strings.NewReader(`  `)), 0); err != io.EOF {
		t.Fatalf("empty input: %v", err)
	}
}
