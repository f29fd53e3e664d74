// Package xmlx is ox's one XML writer and escaper: package element builds
// its elements with it, and package pep serializes what it reads off the
// session with it, so that both escape alike and write self-contained XML
// alike.
package xmlx

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// NSXML is the namespace of the xml: prefix.
const NSXML = "http://www.w3.org/XML/1998/namespace"

// ErrTooLarge: the XML is larger, or nested deeper, than the writer allows.
var ErrTooLarge = errors.New("xmlx: XML too large or too deeply nested")

// AppendText appends s escaped for XML character data: & < > and CR (which
// a parser would otherwise normalise away). Characters that XML 1.0 cannot
// carry (and invalid UTF-8) are replaced by U+FFFD.
func AppendText(dst []byte, s string) []byte { return appendEscaped(dst, s, false) }

// AppendAttr appends s escaped for an attribute value in double quotes:
// also " and the whitespace characters that attribute value normalisation
// would turn into spaces.
func AppendAttr(dst []byte, s string) []byte { return appendEscaped(dst, s, true) }

func appendEscaped(dst []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
			i++
			continue
		}
		i += size
		switch {
		case r == '&':
			dst = append(dst, "&amp;"...)
		case r == '<':
			dst = append(dst, "&lt;"...)
		case r == '>':
			dst = append(dst, "&gt;"...)
		case r == '\r':
			dst = append(dst, "&#xD;"...)
		case attr && r == '"':
			dst = append(dst, "&quot;"...)
		case attr && r == '\n':
			dst = append(dst, "&#xA;"...)
		case attr && r == '\t':
			dst = append(dst, "&#x9;"...)
		case !IsXMLChar(r):
			dst = append(dst, "\uFFFD"...)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// IsXMLChar reports whether r is a Char of XML 1.0 §2.2.
func IsXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// Writer serializes namespace-resolved tokens (as xml.Decoder.Token returns
// them) as self-contained XML: the root declares its namespace, children
// declare theirs only where it changes, and namespaced attributes get
// prefixes declared where they are used. Comments, processing instructions
// and directives are dropped.
type Writer struct {
	// Buf is the XML written so far.
	Buf []byte
	// Limit bounds len(Buf) (0: none); MaxDepth the nesting (0: none).
	Limit, MaxDepth int

	stack   []scope
	pending bool // a start tag is open and may still become "/>"
	nprefix int  // prefixes made so far
}

type scope struct {
	name     string
	def      string            // default namespace in scope
	prefixes map[string]string // namespace URI -> prefix, declared on this element
}

// Depth is how many elements are open.
func (w *Writer) Depth() int { return len(w.stack) }

func (w *Writer) prefixFor(uri string) (string, bool) {
	for i := len(w.stack) - 1; i >= 0; i-- {
		if p, ok := w.stack[i].prefixes[uri]; ok {
			return p, true
		}
	}
	return "", false
}

func (w *Writer) closePending() {
	if w.pending {
		w.Buf = append(w.Buf, '>')
		w.pending = false
	}
}

// Write adds one token.
func (w *Writer) Write(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if w.MaxDepth > 0 && len(w.stack) >= w.MaxDepth {
			return ErrTooLarge
		}
		w.closePending()
		def := ""
		if len(w.stack) > 0 {
			def = w.stack[len(w.stack)-1].def
		}
		sc := scope{name: t.Name.Local, def: def}
		w.Buf = append(w.Buf, '<')
		w.Buf = append(w.Buf, t.Name.Local...)
		if t.Name.Space != def || len(w.stack) == 0 && t.Name.Space != "" {
			w.Buf = append(w.Buf, ` xmlns="`...)
			w.Buf = AppendAttr(w.Buf, t.Name.Space)
			w.Buf = append(w.Buf, '"')
			sc.def = t.Name.Space
		}
		w.stack = append(w.stack, sc)
		top := &w.stack[len(w.stack)-1]
		for _, a := range t.Attr {
			if isNSDecl(a) || a.Name.Local == "" {
				continue
			}
			w.Buf = append(w.Buf, ' ')
			switch a.Name.Space {
			case "":
			case NSXML, "xml":
				w.Buf = append(w.Buf, "xml:"...)
			default:
				p, ok := w.prefixFor(a.Name.Space)
				if !ok {
					if top.prefixes == nil {
						top.prefixes = make(map[string]string)
					}
					w.nprefix++
					p = fmt.Sprintf("ns%d", w.nprefix)
					top.prefixes[a.Name.Space] = p
					w.Buf = append(w.Buf, "xmlns:"...)
					w.Buf = append(w.Buf, p...)
					w.Buf = append(w.Buf, `="`...)
					w.Buf = AppendAttr(w.Buf, a.Name.Space)
					w.Buf = append(w.Buf, `" `...)
				}
				w.Buf = append(w.Buf, p...)
				w.Buf = append(w.Buf, ':')
			}
			w.Buf = append(w.Buf, a.Name.Local...)
			w.Buf = append(w.Buf, `="`...)
			w.Buf = AppendAttr(w.Buf, a.Value)
			w.Buf = append(w.Buf, '"')
		}
		w.pending = true
	case xml.EndElement:
		if len(w.stack) == 0 {
			return errors.New("xmlx: unbalanced XML")
		}
		name := w.stack[len(w.stack)-1].name
		w.stack = w.stack[:len(w.stack)-1]
		if w.pending {
			w.Buf = append(w.Buf, "/>"...)
			w.pending = false
		} else {
			w.Buf = append(w.Buf, "</"...)
			w.Buf = append(w.Buf, name...)
			w.Buf = append(w.Buf, '>')
		}
	case xml.CharData:
		if len(w.stack) == 0 {
			return nil // whitespace between stanzas or around a root
		}
		w.closePending()
		w.Buf = AppendText(w.Buf, string(t))
	}
	if w.Limit > 0 && len(w.Buf) > w.Limit {
		return ErrTooLarge
	}
	return nil
}

// IsNSDecl reports whether a is a namespace declaration (xmlns or xmlns:p).
func isNSDecl(a xml.Attr) bool {
	return (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Space == "xmlns"
}

// ReadElement serializes the next element of r (skipping anything before
// it) up to its end tag, reading no further. It returns io.EOF when r ends
// before any element starts.
func ReadElement(r xml.TokenReader, limit, maxDepth int) ([]byte, error) {
	w := Writer{Limit: limit, MaxDepth: maxDepth}
	started := false
	for {
		tok, err := r.Token()
		if tok != nil {
			if _, ok := tok.(xml.StartElement); ok {
				started = true
			}
			if started {
				if werr := w.Write(tok); werr != nil {
					return nil, werr
				}
				if w.Depth() == 0 {
					return w.Buf, nil
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

// Starts passes the tokens of R through and tells F of each start element
// as it goes by, with its depth: 1 for the first element read through it,
// 2 for its children. Readers of a stanza use it to note what they look
// for while the stanza is read once, rather than parsing it again.
type Starts struct {
	R     xml.TokenReader
	F     func(depth int, start xml.StartElement)
	depth int
}

func (s *Starts) Token() (xml.Token, error) {
	tok, err := s.R.Token()
	switch t := tok.(type) {
	case xml.StartElement:
		s.depth++
		s.F(s.depth, t)
	case xml.EndElement:
		s.depth--
	}
	return tok, err
}
