package element

import (
	"testing"
	"time"
)

// The forwarding's delay stamp is found before the message (XEP-0297's
// examples, Prosody) and after it (ejabberd's archive results).
func TestForwardedStamp(t *testing.T) {
	const (
		inner = `<message xmlns="jabber:client" from="a@b/c" to="d@e"><body>hi</body></message>`
		delay = `<delay xmlns="urn:xmpp:delay" stamp="2026-12-04T22:50:40.587264Z"/>`
	)
	want := time.Date(2026, 12, 4, 22, 50, 40, 587264000, time.UTC)
	for name, fwd := range map[string]string{
		"delay first": delay + inner,
		"delay after": inner + delay,
		"no delay":    inner,
	} {
		raw := `<message xmlns="jabber:client" to="d@e"><result xmlns="urn:xmpp:mam:2" queryid="q" id="1"><forwarded xmlns="urn:xmpp:forward:0">` + fwd + `</forwarded></result></message>`
		got, stamp, ok := Forwarded([]byte(raw), "urn:xmpp:mam:2", "result")
		if !ok || string(got) != inner {
			t.Errorf("%s: %q, %v; want the inner message", name, got, ok)
			continue
		}
		w := want
		if name == "no delay" {
			w = time.Time{}
		}
		if !stamp.Equal(w) {
			t.Errorf("%s: stamp %v, want %v", name, stamp, w)
		}
	}
	// A forwarding without a message is not one.
	if _, _, ok := Forwarded([]byte(`<message><result xmlns="urn:xmpp:mam:2"><forwarded xmlns="urn:xmpp:forward:0">`+delay+`</forwarded></result></message>`), "urn:xmpp:mam:2", "result"); ok {
		t.Error("a forwarding without a message was taken")
	}
}
