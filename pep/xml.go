package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/internal/xmlx"
)

// Namespaces used on the wire.
const (
	NSPubSub       = "http://jabber.org/protocol/pubsub"
	NSPubSubOwner  = "http://jabber.org/protocol/pubsub#owner"
	NSPubSubEvent  = "http://jabber.org/protocol/pubsub#event"
	NSPubSubErrors = "http://jabber.org/protocol/pubsub#errors"
	nsDataForm     = "jabber:x:data"
	nsStanzas      = "urn:ietf:params:xml:ns:xmpp-stanzas"

	formPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
	formNodeConfig     = "http://jabber.org/protocol/pubsub#node_config"
)

const (
	// maxResponse bounds the bytes of one IQ response kept in memory: a node
	// with thousands of items of a few kilobytes each still fits.
	maxResponse = 64 << 20
	// maxStanza bounds an event notification (ParseEvent, HandleEvents).
	// Servers cap stanzas far lower (Prosody: 256 KiB by default).
	maxStanza = 4 << 20
	// maxDepth bounds element nesting in everything this package reads.
	maxDepth = 128
)

// errTooLarge is xmlx.ErrTooLarge with this package's prefix.
var errTooLarge = fmt.Errorf("pep: %w", xmlx.ErrTooLarge)

// tokenSlice is an xml.TokenReader over a slice of tokens.
type tokenSlice struct {
	toks []xml.Token
	i    int
}

func (r *tokenSlice) Token() (xml.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	t := r.toks[r.i]
	r.i++
	return t, nil
}

// elem appends <name attrs...>inner</name> to toks. Children in the same
// namespace as their parent pass an empty space so that the encoder does not
// repeat the declaration.
func elem(space, local string, attrs []xml.Attr, inner ...xml.Token) []xml.Token {
	start := xml.StartElement{Name: xml.Name{Space: space, Local: local}, Attr: attrs}
	toks := make([]xml.Token, 0, len(inner)+2)
	toks = append(toks, start)
	toks = append(toks, inner...)
	return append(toks, start.End())
}

func attr(name, value string) xml.Attr {
	return xml.Attr{Name: xml.Name{Local: name}, Value: value}
}

// formTokens builds a data form (XEP-0004) of type submit with FORM_TYPE
// formType and opts, fields in sorted order so that the output is stable.
func formTokens(formType string, opts Options) []xml.Token {
	fields := elem("", "field", []xml.Attr{attr("var", "FORM_TYPE"), attr("type", "hidden")},
		elem("", "value", nil, xml.CharData(formType))...)
	for _, k := range opts.keys() {
		fields = append(fields, elem("", "field", []xml.Attr{attr("var", k)},
			elem("", "value", nil, xml.CharData(opts[k]))...)...)
	}
	return elem(nsDataForm, "x", []xml.Attr{attr("type", "submit")}, fields...)
}

// payloadTokens checks that payload is exactly one well-formed element
// (surrounding whitespace, comments and processing instructions are
// dropped) and returns its tokens ready for encoding inside an element in
// namespace parentNS: namespace declarations are left to the encoder, and an
// element in no namespace under a namespaced parent gets xmlns="" so that it
// does not inherit its parent's namespace.
func payloadTokens(payload []byte, parentNS string) ([]xml.Token, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil, errors.New("empty payload")
	}
	d := xml.NewDecoder(bytes.NewReader(payload))
	var toks []xml.Token
	var stack []string // namespaces of the open elements
	roots := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("payload is not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
				if roots > 1 {
					return nil, errors.New("payload has more than one root element")
				}
			}
			if len(stack) >= maxDepth {
				return nil, errTooLarge
			}
			parent := parentNS
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			attrs := make([]xml.Attr, 0, len(t.Attr)+1)
			for _, a := range t.Attr {
				if isNSDecl(a) {
					continue
				}
				attrs = append(attrs, a)
			}
			if t.Name.Space == "" && parent != "" {
				attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: ""})
			}
			t.Attr = attrs
			stack = append(stack, t.Name.Space)
			toks = append(toks, t)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			toks = append(toks, t)
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("payload has text outside its root element")
				}
				continue
			}
			toks = append(toks, t.Copy())
		case xml.Directive:
			return nil, errors.New("payload has a directive (DOCTYPE)")
		default: // comments, processing instructions
		}
	}
	if roots == 0 {
		return nil, errors.New("payload has no element")
	}
	return toks, nil
}

func isNSDecl(a xml.Attr) bool {
	return (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Space == "xmlns"
}

// readElement serializes the next element of r (skipping anything before
// it) up to its end tag, reading no further (xmlx.ReadElement).
func readElement(r xml.TokenReader, limit int) ([]byte, error) {
	b, err := xmlx.ReadElement(r, limit, maxDepth)
	if errors.Is(err, xmlx.ErrTooLarge) {
		err = errTooLarge
	}
	return b, err
}

// subtree serializes the element that start opens, reading from d up to its
// end tag.
func subtree(d *xml.Decoder, start xml.StartElement) ([]byte, error) {
	return readElement(&prepend{first: start, r: d}, maxStanza)
}

type prepend struct {
	first xml.Token
	r     xml.TokenReader
}

func (p *prepend) Token() (xml.Token, error) {
	if p.first != nil {
		t := p.first
		p.first = nil
		return t, nil
	}
	return p.r.Token()
}

// exchange sends an IQ of type typ to to (the zero JID: the account itself)
// with the given payload and returns the whole response, serialized. An
// error response comes back as a *StanzaError (with the response bytes).
func exchange(ctx context.Context, s *xmpp.Session, typ stanza.IQType, to jid.JID, payload []xml.Token) ([]byte, error) {
	iq := stanza.IQ{Type: typ, To: to}
	resp, err := s.SendIQ(ctx, iq.Wrap(&tokenSlice{toks: payload}))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("no response")
	}
	data, err := readElement(resp, maxResponse)
	if cerr := resp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if serr := iqError(data); serr != nil {
		return data, serr
	}
	return data, nil
}

// iqError returns the error carried by an IQ response of type "error",
// or nil.
func iqError(data []byte) *StanzaError {
	d := xml.NewDecoder(bytes.NewReader(data))
	root, err := rootStart(d)
	if err != nil || root.Name.Local != "iq" || attrValue(root.Attr, "type") != "error" {
		return nil
	}
	serr := &StanzaError{Condition: "undefined-condition"}
	for {
		start, err := nextChild(d)
		if err != nil {
			return serr
		}
		if start.Name.Local != "error" {
			if err := d.Skip(); err != nil {
				return serr
			}
			continue
		}
		serr.Type = attrValue(start.Attr, "type")
		parseErrorChildren(d, serr)
		return serr
	}
}

func parseErrorChildren(d *xml.Decoder, serr *StanzaError) {
	for {
		c, err := nextChild(d)
		if err != nil {
			return
		}
		switch {
		case c.Name.Space == nsStanzas && c.Name.Local == "text":
			var text string
			if d.DecodeElement(&text, &c) == nil && serr.Text == "" {
				serr.Text = strings.TrimSpace(text)
			}
			continue
		case c.Name.Space == nsStanzas:
			serr.Condition = c.Name.Local
		default:
			if serr.App == "" {
				serr.App = c.Name.Local
				serr.AppNS = c.Name.Space
				serr.Feature = attrValue(c.Attr, "feature")
			}
		}
		if err := d.Skip(); err != nil {
			return
		}
	}
}

// rootStart returns the first start element of d.
func rootStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
	}
}

// nextChild returns the next child start element of the current element, or
// io.EOF at its end tag.
func nextChild(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, io.EOF
		}
	}
}

func attrValue(attrs []xml.Attr, local string) string {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// ReadStanza reads the element a mux handler is given (the whole stanza),
// re-serialised, up to 4 MiB, so that it can be parsed on its own.
func ReadStanza(r xml.TokenReader) ([]byte, error) { return readElement(r, maxStanza) }
