package ox

import (
	"bytes"
	"net"
	"reflect"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// The scanner names every top-level element of a stream however the bytes
// are split, and is not fooled by what looks like markup inside attribute
// values, comments, CDATA sections or processing instructions.
func TestXMLScanTopLevel(t *testing.T) {
	stream := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x>y'>` +
		`<enabled xmlns='urn:xmpp:sm:3' id='a/b' resume="true"/>` +
		`<message to='a@b' id="q'/>"><body>1 &lt; 2 > 0 <![CDATA[</message><r/>]]]]></body><x/><!-- </message> --- --></message>` +
		`<r xmlns='urn:xmpp:sm:3' />` +
		`<presence/>` +
		`<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='c@d'/></query></iq>` +
		`<client:message xmlns:client='jabber:client'><?pi </client:message>?></client:message>` +
		`<a xmlns='urn:xmpp:sm:3' h='3'></a>` +
		`</stream:stream>`
	want := []string{"enabled", "message", "r", "presence", "iq", "message", "a"}
	for _, size := range []int{1, 2, 3, 7, len(stream)} {
		var got []string
		var raws []string
		s := xmlScan{keep: true, top: func(name string, raw []byte) {
			got = append(got, name)
			raws = append(raws, string(raw))
		}}
		for i := 0; i < len(stream); i += size {
			s.feed([]byte(stream[i:min(i+size, len(stream))]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunks of %d: top-level elements %q, want %q", size, got, want)
		}
		// Each element's bytes are the stream's, from its '<' to its end.
		at := 0
		for i, r := range raws {
			j := strings.Index(stream[at:], r)
			if r == "" || j < 0 || !strings.HasPrefix(r, "<") || !strings.HasSuffix(r, ">") {
				t.Errorf("chunks of %d: element %d (%s) kept as %q", size, i, want[i], r)
				break
			}
			at += j + len(r)
		}
		if s.depth != 0 {
			t.Errorf("chunks of %d: depth %d after the stream closed, want 0", size, s.depth)
		}
	}
}

// The count starts at <enabled/> and takes stanzas only (XEP-0198 §4).
func TestSMConnCounts(t *testing.T) {
	c := newSMConn(nil)
	c.scan.feed([]byte(`<stream:stream><message/><enabled xmlns='urn:xmpp:sm:3'/><message><body/></message><r xmlns='urn:xmpp:sm:3'/><presence/><iq/><a xmlns='urn:xmpp:sm:3' h='0'/>`))
	if h, on := c.Handled(); !on || h != 3 {
		t.Errorf("Handled() = %d, %v; want 3, true", h, on)
	}
}

// wire is a connection that keeps what is written to it.
type wire struct {
	net.Conn
	b bytes.Buffer
}

func (w *wire) Write(p []byte) (int, error) { return w.b.Write(p) }

// For resumption (XEP-0198 §5) a copy of each stanza sent after <enable/>
// is kept until the server's count says it has it; one <r/> at a time asks
// for that count, written between stanzas; what a resumed session sends
// again is what the server had not handled, without requests.
func TestSMConnKeepsTheUnacknowledged(t *testing.T) {
	w := &wire{}
	c := newSMConn(w)
	c.keepCopies(true) // resumption asked for
	write := func(s string, chunk int) {
		t.Helper()
		for i := 0; i < len(s); i += chunk {
			if _, err := c.Write([]byte(s[i:min(i+chunk, len(s))])); err != nil {
				t.Fatal(err)
			}
		}
	}
	const (
		m1  = `<message xmlns="jabber:client" to="b@x" id="1"><body>a &lt; b</body></message>`
		iq  = `<iq xmlns="jabber:client" type="get" id="2"><ping xmlns="urn:xmpp:ping"/></iq>`
		res = `<iq xmlns="jabber:client" type="result" id="3"/>`
		m2  = `<message xmlns="jabber:client" to="b@x" id="4"><body>two</body></message>`
	)
	write(`<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">`, 5)
	write(`<iq type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`, 1000)
	write(`<enable xmlns="urn:xmpp:sm:3" resume="true"/>`, 1000)
	if got := w.b.String(); strings.Contains(got, "<r ") {
		t.Fatalf("an <r/> before any stanza was sent: %s", got)
	}
	w.b.Reset()
	write(m1, 3)
	if got, want := w.b.String(), m1+"<r xmlns='urn:xmpp:sm:3'/>"; got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	w.b.Reset()
	write(iq+res+m2, 1000)
	if got := w.b.String(); got != iq+res+m2 {
		t.Fatalf("wrote %q with an <r/> out, want the stanzas alone", got)
	}
	if len(c.unacked) != 4 || c.sent != 4 || string(c.unacked[0]) != m1 || string(c.unacked[3]) != m2 {
		t.Fatalf("kept %d copies (%q), sent %d; want the 4 stanzas", len(c.unacked), c.unacked, c.sent)
	}
	c.acked(1)
	if len(c.unacked) != 3 || string(c.unacked[0]) != iq {
		t.Fatalf("after <a h='1'/>: kept %q, want the last 3", c.unacked)
	}
	c.acked(9) // more than was sent: ignored
	if len(c.unacked) != 3 {
		t.Fatalf("a count above what was sent dropped copies: %q", c.unacked)
	}
	w.b.Reset()
	write(`<presence xmlns="jabber:client"/>`, 1000)
	if got := w.b.String(); !strings.HasSuffix(got, "<r xmlns='urn:xmpp:sm:3'/>") {
		t.Fatalf("after an answer, the next stanza asks again: wrote %q", got)
	}

	// The connection is lost; what it leaves resumes on the next one.
	c.scan.feed([]byte(`<stream:stream><enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true'/><message/><message/>`))
	c.id, c.addr, c.resumable = "s1", jid.MustParse("b@x/r"), true
	r := ResumptionOf(nil)
	if r != nil {
		t.Fatal("a nil session has a resumption")
	}
	c.mu.Lock()
	r = &Resumption{id: c.id, addr: c.addr, handled: c.handled, sent: c.sent, unacked: c.unacked}
	c.mu.Unlock()
	if r.handled != 2 || r.sent != 5 || len(r.unacked) != 4 {
		t.Fatalf("resumption: handled %d, sent %d, %d copies; want 2, 5, 4", r.handled, r.sent, len(r.unacked))
	}
	w2 := &wire{}
	c2 := newSMConn(w2)
	c2.base = r.handled
	c2.scan.feed([]byte(`<stream:stream><resumed xmlns='urn:xmpp:sm:3' previd='s1' h='2'/><message/>`))
	if h, on := c2.Handled(); !on || h != 3 {
		t.Errorf("resumed: Handled() = %d, %v; want 3 (2 before, 1 resent), true", h, on)
	}
	// The server had handled 2 of ox's 5: the iq get is not sent again,
	// the result, the message and the presence are.
	c2.mu.Lock()
	c2.outOn, c2.sent, c2.unacked = true, r.sent, r.unacked
	c2.mu.Unlock()
	c2.acked(2)
	var again []string
	for _, b := range c2.unacked {
		if !isRequest(b) {
			again = append(again, string(b))
		}
	}
	if want := []string{res, m2, `<presence xmlns="jabber:client"/>`}; !reflect.DeepEqual(again, want) {
		t.Errorf("sent again %q, want %q", again, want)
	}
}

// Copies are bounded: past the limit none are kept, and the session is
// not resumable.
func TestSMConnOverflow(t *testing.T) {
	w := &wire{}
	c := newSMConn(w)
	c.keepCopies(true)
	c.Write([]byte(`<stream:stream><enable xmlns="urn:xmpp:sm:3" resume="true"/>`))
	c.id, c.resumable, c.enabled = "s", true, true
	for i := 0; i <= maxUnacked; i++ {
		c.Write([]byte(`<message/>`))
	}
	if !c.overflow || len(c.unacked) != 0 || c.sent != maxUnacked+1 {
		t.Fatalf("after %d unacknowledged: overflow %v, %d copies, sent %d", maxUnacked+1, c.overflow, len(c.unacked), c.sent)
	}
}

// A session that will not be resumed keeps no copies and asks for no
// acknowledgements.
func TestSMConnWithoutResumption(t *testing.T) {
	w := &wire{}
	c := newSMConn(w)
	c.Write([]byte(`<stream:stream><enable xmlns="urn:xmpp:sm:3"/>`))
	w.b.Reset()
	c.Write([]byte(`<message/>`))
	if got := w.b.String(); got != `<message/>` || len(c.unacked) != 0 {
		t.Errorf("wrote %q, kept %d copies; want the message alone, none", got, len(c.unacked))
	}
}

// What a process saves to resume after a crash reads back as it was, and
// nonsense is refused.
func TestResumptionText(t *testing.T) {
	r := &Resumption{id: "g2gCZAAR", addr: jid.MustParse("bob@example.org/ox-1"), handled: 4294967295, sent: 9, unacked: [][]byte{[]byte("<message/>")}}
	b, err := r.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseResumption(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.id != r.id || !got.addr.Equal(r.addr) || got.handled != r.handled || got.sent != 0 || got.unacked != nil {
		t.Errorf("read back %+v from %s, want the id, address and count of %+v without what was sent", got, b, r)
	}
	for _, bad := range []string{``, `{}`, `{"id":"x","jid":"bob@example.org","h":1}`, `{"id":"","jid":"bob@example.org/r"}`, `{"id":"x","jid":"bob@example.org/r","h":-1}`, `[`} {
		if _, err := ParseResumption([]byte(bad)); err == nil {
			t.Errorf("ParseResumption(%q) took it", bad)
		}
	}
}

// After a refused resumption, only direct messages are sent again: not a
// room's (the new session is in no room), not presence, not a request.
func TestResentAfterRefusal(t *testing.T) {
	for raw, want := range map[string]bool{
		`<message to='bob@example.org' type='chat' id='1'><body>x</body></message>`: true,
		`<message to='bob@example.org' id='2'/>`:                                    true,
		`<message to='room@muc.example.org' type='groupchat' id='3'/>`:              false,
		`<presence/>`: false,
		`<iq type='set' id='4'><query xmlns='jabber:iq:roster'/></iq>`: false,
	} {
		if got := isDirectMessage([]byte(raw)); got != want {
			t.Errorf("%s: sent again %v, want %v", raw, got, want)
		}
	}
}
