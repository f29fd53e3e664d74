package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Namespaces used on the wire.
const (
	NSPubSub       = "http://jabber.org/protocol/pubsub"
	NSPubSubOwner  = "http://jabber.org/protocol/pubsub#owner"
	NSPubSubEvent  = "http://jabber.org/protocol/pubsub#event"
	NSPubSubErrors = "http://jabber.org/protocol/pubsub#errors"
	nsDataForm     = "jabber:x:data"
	nsStanzas      = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsXML          = "http://www.w3.org/XML/1998/namespace"

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

var errTooLarge = errors.New("pep: XML too large or too deeply nested")

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

// xmlWriter serializes namespace-resolved tokens (as xml.Decoder.Token
// returns them) as self-contained XML: the root declares its namespace,
// children declare theirs only where it changes, and namespaced attributes
// get prefixes declared where they are used. Comments, processing
// instructions and directives are dropped.
type xmlWriter struct {
	buf     []byte
	stack   []wscope
	pending bool // a start tag is open and may still become "/>"
	limit   int
	nprefix int // prefixes made so far
}

type wscope struct {
	name     string
	def      string            // default namespace in scope
	prefixes map[string]string // namespace URI -> prefix, declared on this element
}

func (w *xmlWriter) prefixFor(uri string) (string, bool) {
	for i := len(w.stack) - 1; i >= 0; i-- {
		if p, ok := w.stack[i].prefixes[uri]; ok {
			return p, true
		}
	}
	return "", false
}

func (w *xmlWriter) closePending() {
	if w.pending {
		w.buf = append(w.buf, '>')
		w.pending = false
	}
}

func (w *xmlWriter) write(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if len(w.stack) >= maxDepth {
			return errTooLarge
		}
		w.closePending()
		def := ""
		if len(w.stack) > 0 {
			def = w.stack[len(w.stack)-1].def
		}
		sc := wscope{name: t.Name.Local, def: def}
		w.buf = append(w.buf, '<')
		w.buf = append(w.buf, t.Name.Local...)
		if t.Name.Space != def || len(w.stack) == 0 && t.Name.Space != "" {
			w.buf = append(w.buf, ` xmlns="`...)
			w.buf = appendEscaped(w.buf, t.Name.Space, true)
			w.buf = append(w.buf, '"')
			sc.def = t.Name.Space
		}
		w.stack = append(w.stack, sc)
		top := &w.stack[len(w.stack)-1]
		for _, a := range t.Attr {
			if isNSDecl(a) || a.Name.Local == "" {
				continue
			}
			w.buf = append(w.buf, ' ')
			switch a.Name.Space {
			case "":
			case nsXML, "xml":
				w.buf = append(w.buf, "xml:"...)
			default:
				p, ok := w.prefixFor(a.Name.Space)
				if !ok {
					if top.prefixes == nil {
						top.prefixes = make(map[string]string)
					}
					w.nprefix++
					p = fmt.Sprintf("ns%d", w.nprefix)
					top.prefixes[a.Name.Space] = p
					w.buf = append(w.buf, "xmlns:"...)
					w.buf = append(w.buf, p...)
					w.buf = append(w.buf, `="`...)
					w.buf = appendEscaped(w.buf, a.Name.Space, true)
					w.buf = append(w.buf, `" `...)
				}
				w.buf = append(w.buf, p...)
				w.buf = append(w.buf, ':')
			}
			w.buf = append(w.buf, a.Name.Local...)
			w.buf = append(w.buf, `="`...)
			w.buf = appendEscaped(w.buf, a.Value, true)
			w.buf = append(w.buf, '"')
		}
		w.pending = true
	case xml.EndElement:
		if len(w.stack) == 0 {
			return errors.New("pep: unbalanced XML")
		}
		name := w.stack[len(w.stack)-1].name
		w.stack = w.stack[:len(w.stack)-1]
		if w.pending {
			w.buf = append(w.buf, "/>"...)
			w.pending = false
		} else {
			w.buf = append(w.buf, "</"...)
			w.buf = append(w.buf, name...)
			w.buf = append(w.buf, '>')
		}
	case xml.CharData:
		if len(w.stack) == 0 {
			return nil // whitespace between stanzas or around a root
		}
		w.closePending()
		w.buf = appendEscaped(w.buf, string(t), false)
	}
	if w.limit > 0 && len(w.buf) > w.limit {
		return errTooLarge
	}
	return nil
}

// readElement serializes the next element of r (skipping anything before
// it) up to its end tag, reading no further. It returns io.EOF when r ends
// before any element starts.
func readElement(r xml.TokenReader, limit int) ([]byte, error) {
	w := xmlWriter{limit: limit}
	started := false
	for {
		tok, err := r.Token()
		if tok != nil {
			if _, ok := tok.(xml.StartElement); ok {
				started = true
			}
			if started {
				if werr := w.write(tok); werr != nil {
					return nil, werr
				}
				if len(w.stack) == 0 {
					return w.buf, nil
				}
			}
		}
		if err == io.EOF {
			if !started {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
	}
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

func appendEscaped(dst []byte, s string, inAttr bool) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			dst = append(dst, "&amp;"...)
		case r == '<':
			dst = append(dst, "&lt;"...)
		case r == '>':
			dst = append(dst, "&gt;"...)
		case r == '"' && inAttr:
			dst = append(dst, "&quot;"...)
		case r == '\r':
			dst = append(dst, "&#xD;"...)
		case (r == '\n' || r == '\t') && inAttr:
			dst = append(dst, fmt.Sprintf("&#x%X;", r)...)
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\uFFFD"...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
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
