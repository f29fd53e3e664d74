package ox

import (
	"bytes"
	"encoding/xml"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
)

// unwrapCarbon takes the message out of a carbon copy (XEP-0280 §6):
// <message from='own bare JID'><received|sent xmlns='urn:xmpp:carbons:2'>
// <forwarded xmlns='urn:xmpp:forward:0'><message …/></forwarded>…. A carbon
// from anyone but the account itself is a forgery (XEP-0280 §11) and is
// dropped.
func unwrapCarbon(raw []byte, kind string, me jid.JID) (received, bool) {
	var outer struct {
		From string `xml:"from,attr"`
	}
	if err := xml.Unmarshal(raw, &outer); err != nil {
		return received{}, false
	}
	if outer.From != "" {
		f, err := jid.Parse(outer.From)
		if err != nil || !f.Equal(me.Bare()) {
			return received{}, false
		}
	}
	inner, stamp, ok := forwarded(raw, nsCarbons, kind)
	if !ok {
		return received{}, false
	}
	return received{raw: inner, sent: kind == "sent", delivered: stamp, stanzaID: stanzaIDBy(inner, me)}, true
}

// forwarded finds <wrapper><forwarded><delay/>?<message/></forwarded> under
// the stanza's root and returns the inner message as bytes and the delay.
func forwarded(raw []byte, ns, wrapper string) ([]byte, time.Time, bool) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var path []xml.Name
	var stamp time.Time
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, time.Time{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			inWrapper := len(path) >= 3 && path[1].Space == ns && path[1].Local == wrapper && path[2].Local == "forwarded"
			if !inWrapper || len(path) != 4 {
				continue
			}
			switch t.Name.Local {
			case "delay":
				for _, a := range t.Attr {
					if a.Name.Local == "stamp" {
						stamp, _ = element.ParseTime(a.Value)
					}
				}
			case "message":
				if err := d.Skip(); err != nil {
					return nil, time.Time{}, false
				}
				inner := append([]byte(nil), raw[off:d.InputOffset()]...)
				return inner, stamp, true
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
}
