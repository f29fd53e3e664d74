package ox

import (
	"reflect"
	"testing"
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
		s := xmlScan{top: func(name string) { got = append(got, name) }}
		for i := 0; i < len(stream); i += size {
			s.feed([]byte(stream[i:min(i+size, len(stream))]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunks of %d: top-level elements %q, want %q", size, got, want)
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
