package element

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"

	"codeberg.org/ox/ox/internal/xmlx"
)

const (
	// MaxSize bounds every input of the parse functions (and the output of
	// the Marshal methods that can fail): 1 MiB. OpenPGP keys are tens of
	// kilobytes (XEP-0373 §9.2) and chat messages far less, so anything
	// bigger is refused before it is decoded.
	MaxSize = 1 << 20
	// MaxDepth bounds the nesting of elements. Real content is 3 or 4
	// levels deep; 64 leaves room for odd payloads without letting
	// pathological input exhaust the stack of a consumer.
	MaxDepth = 64
)

// nsDecl is one namespace declaration: prefix "" is the default namespace.
type nsDecl struct{ prefix, uri string }

// node is an element of a small, bounded tree that keeps the byte offsets
// of its tags in the input, so that parts can be cut out verbatim.
type node struct {
	name     xml.Name
	attr     []xml.Attr // attributes that are not namespace declarations
	decls    []nsDecl
	parent   *node
	children []*node
	text     []byte // direct character data (kept nodes only)
	// Byte offsets in the input: start tag [start, startEnd), end tag
	// [endStart, end). For <a/> endStart == end == startEnd.
	start, startEnd, endStart, end int
}

func (n *node) attrValue(local string) (string, bool) {
	for _, a := range n.attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// declaresDefault reports whether n itself declares a default namespace.
func (n *node) declaresDefault() bool {
	for _, d := range n.decls {
		if d.prefix == "" {
			return true
		}
	}
	return false
}

// inScopeDefault is the default namespace in effect at n (not counting
// declarations on n itself).
func (n *node) inScopeDefault() string {
	for p := n.parent; p != nil; p = p.parent {
		for _, d := range p.decls {
			if d.prefix == "" {
				return d.uri
			}
		}
	}
	return ""
}

// parseTree reads data as one XML document: a single root element,
// optionally preceded and followed by whitespace, comments and processing
// instructions. It enforces MaxSize and MaxDepth and keeps nodes (with their
// text) down to depth keep (root = 1); deeper elements are checked and
// skipped. elem names the element being read, for error messages.
func parseTree(data []byte, keep int, elem string) (*node, []byte, error) {
	if len(data) > MaxSize {
		return nil, nil, perr(elem, "", ErrTooLarge, "more than 1 MiB")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var (
		root  *node
		cur   *node // innermost kept open element
		depth int
		done  bool
	)
	for {
		off0 := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if done {
				return nil, nil, perr(elem, "", ErrTrailingData, err.Error())
			}
			return nil, nil, perr(elem, "", ErrSyntax, err.Error())
		}
		off1 := int(d.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			if done {
				return nil, nil, perr(elem, "", ErrTrailingData, "second root element <"+t.Name.Local+">")
			}
			depth++
			if depth > MaxDepth {
				return nil, nil, perr(elem, "", ErrTooDeep, "more than 64 levels")
			}
			if depth > keep {
				continue
			}
			n := &node{name: t.Name, parent: cur, start: off0, startEnd: off1}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					n.decls = append(n.decls, nsDecl{a.Name.Local, a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.decls = append(n.decls, nsDecl{"", a.Value})
				default:
					n.attr = append(n.attr, a)
				}
			}
			if cur == nil {
				root = n
			} else {
				cur.children = append(cur.children, n)
			}
			cur = n
		case xml.EndElement:
			if depth <= keep && cur != nil {
				cur.endStart, cur.end = off0, off1
				cur = cur.parent
			}
			depth--
			if depth == 0 {
				done = true
			}
		case xml.CharData:
			if depth == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					if done {
						return nil, nil, perr(elem, "", ErrTrailingData, "text after the root element")
					}
					return nil, nil, perr(elem, "", ErrSyntax, "text before the root element")
				}
				continue
			}
			if depth <= keep && cur != nil {
				cur.text = append(cur.text, t...)
			}
		case xml.Directive:
			return nil, nil, perr(elem, "", ErrSyntax, "DOCTYPE or other directive not allowed in XMPP")
		case xml.ProcInst:
			// The XML declaration may only open the document (XML 1.0 §2.8);
			// other processing instructions are allowed anywhere.
			if strings.EqualFold(t.Target, "xml") && off0 != 0 {
				return nil, nil, perr(elem, "", ErrSyntax, "XML declaration not at the start")
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, nil, perr(elem, "", ErrSyntax, "no root element")
	}
	if !done {
		return nil, nil, perr(elem, "", ErrSyntax, "unexpected end of input")
	}
	return root, data, nil
}

// selfContained appends to dst the bytes of n exactly as they were read
// from data, with namespace declarations added to its start tag so that it
// means the same when written outside its original ancestors: every prefix
// bound by an ancestor and not redeclared by n, and the default namespace
// def unless n declares its own or def equals ctxDefault (the default
// namespace of the place the bytes will be written to).
//
// It fails with ErrTooLarge rather than let the result outgrow limit.
func selfContained(dst, data []byte, n *node, def, ctxDefault string, limit int) ([]byte, error) {
	// Prefixes in scope at the parent, nearest declaration wins.
	var inherited []nsDecl
	seen := map[string]bool{"": true, "xml": true, "xmlns": true}
	for _, d := range n.decls {
		seen[d.prefix] = true
	}
	for p := n.parent; p != nil; p = p.parent {
		for _, d := range p.decls {
			if !seen[d.prefix] {
				seen[d.prefix] = true
				inherited = append(inherited, d)
			}
		}
	}
	slices.SortFunc(inherited, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })

	tag := data[n.start:n.startEnd]
	i := 1
	for i < len(tag) && !isNameEnd(tag[i]) {
		i++
	}
	dst = append(dst, tag[:i]...)
	if !n.declaresDefault() && def != ctxDefault {
		dst = append(dst, ` xmlns="`...)
		dst = appendAttrEscaped(dst, def)
		dst = append(dst, '"')
	}
	for _, d := range inherited {
		if len(dst)+len(d.prefix)+len(d.uri) > limit {
			return nil, ErrTooLarge
		}
		dst = append(dst, " xmlns:"...)
		dst = append(dst, d.prefix...)
		dst = append(dst, `="`...)
		dst = appendAttrEscaped(dst, d.uri)
		dst = append(dst, '"')
	}
	dst = append(dst, tag[i:]...)
	dst = append(dst, data[n.startEnd:n.end]...)
	if len(dst) > limit {
		return nil, ErrTooLarge
	}
	return dst, nil
}

// nameLen is the length of the name at the start of tag (after "<").
func nameLen(tag []byte) int {
	i := 0
	for i < len(tag) && !isNameEnd(tag[i]) {
		i++
	}
	return i
}

func isNameEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '/', '>':
		return true
	}
	return false
}

// appendTextEscaped and appendAttrEscaped are ox's one escaper
// (internal/xmlx), shared with package pep.
func appendTextEscaped(dst []byte, s string) []byte { return xmlx.AppendText(dst, s) }

func appendAttrEscaped(dst []byte, s string) []byte { return xmlx.AppendAttr(dst, s) }

func isXMLChar(r rune) bool { return xmlx.IsXMLChar(r) }
