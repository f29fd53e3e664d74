package element

import (
	"bytes"
	"encoding/xml"
	"time"
)

// Forwarded finds the message a wrapper forwards (XEP-0297):
// <message><WRAPPER xmlns=ns><forwarded><delay/>?<message/></forwarded>
// under the stanza's root, as carbons (XEP-0280 §6) and archive results
// (XEP-0313 §4.2) wrap it, and returns the inner message verbatim with the
// forwarding's delay stamp, which may come before the message or after it
// (ejabberd's archive puts it after). The wrapper is scanned once and not
// decoded beyond that.
func Forwarded(raw []byte, ns, wrapper string) ([]byte, time.Time, bool) {
	if len(raw) > MaxSize {
		return nil, time.Time{}, false
	}
	d := xml.NewDecoder(bytes.NewReader(raw))
	var path []xml.Name
	var stamp time.Time
	var inner []byte
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, time.Time{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			if len(path) > MaxDepth {
				return nil, time.Time{}, false
			}
			inWrapper := len(path) >= 3 && path[1].Space == ns && path[1].Local == wrapper && path[2].Local == "forwarded"
			if !inWrapper || len(path) != 4 {
				continue
			}
			switch t.Name.Local {
			case "delay":
				for _, a := range t.Attr {
					if a.Name.Local == "stamp" {
						stamp, _ = ParseTime(a.Value)
					}
				}
			case "message":
				if err := d.Skip(); err != nil {
					return nil, time.Time{}, false
				}
				path = path[:len(path)-1]
				if inner == nil {
					inner = append([]byte(nil), raw[off:d.InputOffset()]...)
				}
			}
		case xml.EndElement:
			if inner != nil && len(path) == 3 {
				return inner, stamp, true // the <forwarded/> ends
			}
			path = path[:len(path)-1]
		}
	}
}

// WithStanzaID puts <stanza-id by id/> (XEP-0359) first into the message,
// as a server does on live messages: an archived copy kept for later is
// then known again by it.
func WithStanzaID(msg []byte, by, id string) []byte {
	d := xml.NewDecoder(bytes.NewReader(msg))
	for {
		tok, err := d.Token()
		if err != nil {
			return msg
		}
		if _, ok := tok.(xml.StartElement); !ok {
			continue
		}
		off := int(d.InputOffset())
		if off < 2 || off > len(msg) || bytes.HasSuffix(msg[:off], []byte("/>")) {
			return msg
		}
		var el []byte
		el = append(el, `<stanza-id xmlns="`+NSStanzaID+`" by="`...)
		el = appendAttrEscaped(el, by)
		el = append(el, `" id="`...)
		el = appendAttrEscaped(el, id)
		el = append(el, `"></stanza-id>`...)
		out := make([]byte, 0, len(msg)+len(el))
		out = append(out, msg[:off]...)
		out = append(out, el...)
		return append(out, msg[off:]...)
	}
}
