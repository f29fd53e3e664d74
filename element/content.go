package element

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// Kind is the kind of an OpenPGP content element (XEP-0373 §3.1). The zero
// Kind is invalid.
type Kind int

// The OpenPGP content elements.
const (
	// KindSigncrypt is <signcrypt/>: signed and encrypted; the only kind
	// for instant messaging (XEP-0374 §3.1).
	KindSigncrypt Kind = iota + 1
	// KindSign is <sign/>: signed, not encrypted.
	KindSign
	// KindCrypt is <crypt/>: encrypted, not signed.
	KindCrypt
)

// String returns the element name: "signcrypt", "sign" or "crypt".
func (k Kind) String() string {
	switch k {
	case KindSigncrypt:
		return "signcrypt"
	case KindSign:
		return "sign"
	case KindCrypt:
		return "crypt"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= KindSigncrypt && k <= KindCrypt }

func kindOf(local string) (Kind, bool) {
	switch local {
	case "signcrypt":
		return KindSigncrypt, true
	case "sign":
		return KindSign, true
	case "crypt":
		return KindCrypt, true
	}
	return 0, false
}

// Content is an OpenPGP content element (<signcrypt/>, <sign/>, <crypt/>),
// XEP-0373 §3.1; the affix elements <to/>, <time/> and <rpad/> are those of
// XEP-0420 §3.
type Content struct {
	Kind Kind

	// To holds the valid <to jid=…/> addresses in document order, as
	// written: a full JID stays full (the receiver checks compare
	// normalised bare JIDs, XEP-0373 §9.3). BadTo holds the jid
	// attributes that are not valid JIDs ("" for a missing attribute).
	To    []jid.JID
	BadTo []string

	// Time is the <time stamp=…/> in UTC; TimeRaw the stamp as written.
	// TimeNoZone is true when the stamp had no zone designator and was
	// taken as UTC.
	Time       time.Time
	TimeRaw    string
	TimeNoZone bool

	// Rpad is the random padding, opaque; "" when absent or empty.
	// RpadRepaired is true when the rpad held bytes that XML cannot carry
	// (invalid UTF-8, control characters, a bare "<" or "&") and they
	// were replaced so that the rest of the element could be read.
	Rpad         string
	RpadRepaired bool

	// Payload is the content of <payload/>: its children, each
	// re-serialised byte for byte as written, with the namespace
	// declarations it inherited added to its start tag, so that every
	// child (body, chat states, replies, corrections...) can be parsed
	// on its own. Children that inherit no namespace of their own
	// (<body> under <signcrypt xmlns='urn:xmpp:openpgp:0'>, or under
	// <payload xmlns=''>) are given jabber:client, like unqualified
	// children of a stanza: the payload's children are stanza extension
	// elements (XEP-0374 §2.2, XEP-0420 §8).
	Payload []byte

	// body is the payload's first body as ParseContent found it, for
	// Body without parsing the payload again; bodyOf is the Payload it
	// was found in (a Payload set since is parsed).
	body   *string
	bodyOf []byte
}

// NewContent makes a content element to send: the recipients as bare JIDs
// (XEP-0373 §3.1: "SHOULD be without Resourcepart"), the time now in UTC
// truncated to whole seconds (what Marshal writes), a random padding, and
// the payload (an XML fragment, e.g. from BodyPayload), checked and with
// jabber:client made explicit on children that have no namespace.
//
// <signcrypt/> and <sign/> need at least one recipient (ErrNoRecipient).
//
// The padding is 0 to 199 characters from [A-Za-z0-9], length and
// characters drawn uniformly from crypto/rand. Its purpose is to hide the
// exact length of the payload from whoever sees the ciphertext (XEP-0373
// §10.2); XEP-0420 §3 suggests 0 to 200 characters on top of the content.
// A uniform length hides a message's length within a 200 byte window at
// a cost of 100 bytes on average; alphanumerics need no escaping and are
// one byte each, so the padding length in bytes is the drawn length.
func NewContent(kind Kind, to []jid.JID, now time.Time, payload []byte) (*Content, error) {
	c := &Content{Kind: kind}
	for _, j := range to {
		c.To = append(c.To, j.Bare())
	}
	if now.IsZero() {
		return nil, perr(kind.String(), "time", ErrInvalid, "time not set")
	}
	c.Time = now.UTC().Truncate(time.Second)
	c.TimeRaw = FormatTime(c.Time)
	if err := c.check(); err != nil {
		return nil, err
	}
	p, err := normalizePayload(payload)
	if err != nil {
		return nil, payloadErr(kind.String(), err)
	}
	c.Payload = p
	if c.Rpad, err = randomRpad(); err != nil {
		return nil, err
	}
	return c, nil
}

// check enforces the rules of XEP-0373 §3.1 that Marshal writes by.
func (c *Content) check() error {
	if !c.Kind.valid() {
		return perr("", "", ErrInvalid, "content kind "+c.Kind.String())
	}
	name := c.Kind.String()
	if c.Kind != KindCrypt && len(c.To) == 0 {
		return perr(name, "to", ErrNoRecipient, "")
	}
	for _, j := range c.To {
		if j.Domainpart() == "" {
			return perr(name, "to", ErrInvalid, "empty JID")
		}
	}
	if c.Time.IsZero() {
		return perr(name, "time", ErrInvalid, "time not set")
	}
	if y := c.Time.UTC().Year(); y < 0 || y > 9999 {
		return perr(name, "time", ErrInvalid, "year out of range")
	}
	return nil
}

const rpadAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomRpad() (string, error) {
	var b [2]byte
	n := 0
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("element: rpad: %w", err)
		}
		// Rejection sampling: 65400 is the largest multiple of 200 ≤ 65536.
		if v := binary.BigEndian.Uint16(b[:]); v < 65400 {
			n = int(v % 200)
			break
		}
	}
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("element: rpad: %w", err)
		}
		for _, x := range buf {
			// 248 = 4*62: uniform over the alphabet.
			if x < 248 && len(out) < n {
				out = append(out, rpadAlphabet[x%62])
			}
		}
	}
	return string(out), nil
}

// BodyPayload returns a payload holding one message body:
// <body xmlns="jabber:client">text</body> (XEP-0374 §2.2), with &, <, >
// and CR escaped. Characters that XML cannot carry are replaced by U+FFFD.
func BodyPayload(body string) []byte {
	out := []byte(`<body xmlns="` + NSClient + `">`)
	out = appendTextEscaped(out, body)
	return append(out, "</body>"...)
}

// Body returns the text of the first <body/> child of the payload that is
// qualified by jabber:client, jabber:server (XEP-0374 §2.2: accept both)
// or no namespace; false if there is none or the payload is not
// well-formed.
func (c *Content) Body() (string, bool) {
	if c.bodyOf != nil && len(c.bodyOf) == len(c.Payload) && (len(c.Payload) == 0 || &c.bodyOf[0] == &c.Payload[0]) {
		if c.body == nil {
			return "", false
		}
		return *c.body, true
	}
	root, _, err := parseTree(wrapPayload(c.Payload), 2, "payload")
	if err != nil {
		return "", false
	}
	for _, ch := range root.children {
		if ch.name.Local == "body" && isStanzaNS(ch.name.Space) {
			return string(ch.text), true
		}
	}
	return "", false
}

// Marshal writes the content element strictly (XEP-0373 §3.1):
//
//	<signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="…"/>…<time stamp="…"/><rpad>…</rpad><payload>…</payload></signcrypt>
//
// with the recipients as bare JIDs, exactly one <time/> in UTC as
// FormatTime writes it (whole seconds), the padding escaped (and written
// even when empty for <signcrypt/> and <crypt/>, where it SHOULD be
// present; for <sign/> only when not empty), and exactly one <payload/>
// whose children without a namespace of their own get jabber:client.
// There is no XML declaration; attributes use double quotes; the output
// depends only on c. <signcrypt/> and <sign/> without recipients are
// refused (ErrNoRecipient), as are an unset time and a payload that is not
// a well-formed XML fragment (ErrInvalid).
func (c *Content) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	name := c.Kind.String()
	payload, err := normalizePayload(c.Payload)
	if err != nil {
		return nil, payloadErr(name, err)
	}
	out := make([]byte, 0, 256+len(c.Rpad)+len(payload))
	out = append(out, "<"+name+` xmlns="`+NS+`">`...)
	for _, j := range c.To {
		out = append(out, `<to jid="`...)
		out = appendAttrEscaped(out, j.Bare().String())
		out = append(out, `"/>`...)
	}
	out = append(out, `<time stamp="`+FormatTime(c.Time)+`"/>`...)
	if c.Kind != KindSign || c.Rpad != "" {
		out = append(out, "<rpad>"...)
		out = appendTextEscaped(out, c.Rpad)
		out = append(out, "</rpad>"...)
	}
	out = append(out, "<payload>"...)
	out = append(out, payload...)
	out = append(out, "</payload></"+name+">"...)
	if len(out) > MaxSize {
		return nil, perr(name, "", ErrTooLarge, "more than 1 MiB")
	}
	return out, nil
}

// payloadErr reports a payload that normalizePayload refused: too large,
// or not a well-formed XML fragment.
func payloadErr(name string, err error) error {
	sentinel := ErrInvalid
	if errors.Is(err, ErrTooLarge) {
		sentinel = ErrTooLarge
	}
	reason := err.Error()
	var pe *ParseError
	if errors.As(err, &pe) {
		reason = strings.TrimPrefix(pe.Err.Error(), "element: ")
		if pe.Reason != "" {
			reason += ": " + pe.Reason
		}
	}
	return perr(name, "payload", sentinel, reason)
}

func wrapPayload(p []byte) []byte {
	w := make([]byte, 0, len(p)+len("<payload></payload>"))
	w = append(w, "<payload>"...)
	w = append(w, p...)
	return append(w, "</payload>"...)
}

// normalizePayload checks that p is a well-formed XML fragment and gives
// its top-level elements that have no default namespace declaration
// xmlns="jabber:client".
func normalizePayload(p []byte) ([]byte, error) {
	root, d, err := parseTree(wrapPayload(p), 2, "payload")
	if err != nil {
		return nil, err
	}
	return serializeChildren(d, root, NSClient)
}

// serializeChildren returns the content of n (text, comments and child
// elements as written), each child made self-contained by selfContained
// with default namespace def.
func serializeChildren(d []byte, n *node, def string) ([]byte, error) {
	out := make([]byte, 0, n.endStart-n.startEnd)
	cur := n.startEnd
	var err error
	for _, ch := range n.children {
		out = append(out, d[cur:ch.start]...)
		if out, err = selfContained(out, d, ch, def, "", MaxSize); err != nil {
			return nil, perr("payload", "", ErrTooLarge, "namespace declarations make it larger than 1 MiB")
		}
		cur = ch.end
	}
	return append(out, d[cur:n.endStart]...), nil
}

// ParseContent reads an OpenPGP content element (XEP-0373 §3.1), as
// decrypted or verified from an <openpgp/> element.
//
// It is strict about the structure the checks rely on: the input must be
// one well-formed element (ErrSyntax, ErrTrailingData), <signcrypt/>,
// <sign/> or <crypt/> in urn:xmpp:openpgp:0 (ErrUnexpectedElement), with
// exactly one <time/> whose stamp parses (ErrMissing, ErrDuplicate,
// ErrBadTime) and exactly one <payload/> (ErrMissing, ErrDuplicate); it is
// at most MaxSize bytes and MaxDepth levels deep (ErrTooLarge, ErrTooDeep).
//
// It is tolerant about everything else: time stamps as ParseTime reads
// them; <rpad/> absent, empty, long or odd (see Content.RpadRepaired);
// <to/> with full JIDs, several <to/>, invalid ones (kept in BadTo), or
// none (the checks decide); a <payload/> in jabber:client (Fluux) or no
// namespace; white space between elements; unknown elements and
// attributes. Affix elements in jabber:client or no namespace are
// accepted like those in urn:xmpp:openpgp:0.
func ParseContent(data []byte) (*Content, error) {
	if c, ok := fastContent(data); ok {
		return c, nil
	}
	return parseContent(data)
}

// parseContent is ParseContent with the XML decoder, for every input.
func parseContent(data []byte) (*Content, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	root, d, err := parseTree(data, 3, "")
	repaired := false
	if err != nil && errors.Is(err, ErrSyntax) {
		if fixed, at, ok := repairRpad(data); ok {
			if r2, d2, err2 := parseTree(fixed, 3, ""); err2 == nil && rpadAt(r2, at) {
				root, d, err, repaired = r2, d2, nil, true
			}
		}
	}
	if err != nil {
		return nil, err
	}
	kind, ok := kindOf(root.name.Local)
	if !ok || root.name.Space != NS {
		ns := root.name.Space
		if ns == "" {
			ns = "no namespace"
		}
		return nil, perr("", "", ErrUnexpectedElement, "got <"+root.name.Local+"/> in "+quoteShort(ns)+
			", want <signcrypt/>, <sign/> or <crypt/> in "+quoteShort(NS))
	}
	name := kind.String()
	c := &Content{Kind: kind, RpadRepaired: repaired}
	var times, payloads []*node
	rpadSeen := false
	for _, ch := range root.children {
		if !isAffixNS(ch.name.Space) {
			continue
		}
		switch ch.name.Local {
		case "to":
			v, ok := ch.attrValue("jid")
			j, err := jid.Parse(v)
			if !ok || err != nil {
				c.BadTo = append(c.BadTo, v)
				continue
			}
			c.To = append(c.To, j)
		case "time":
			times = append(times, ch)
		case "rpad":
			if !rpadSeen {
				c.Rpad, rpadSeen = string(ch.text), true
			}
		case "payload":
			payloads = append(payloads, ch)
		}
	}
	switch len(times) {
	case 0:
		return nil, perr(name, "time", ErrMissing, "no <time/> element")
	case 1:
	default:
		return nil, perr(name, "time", ErrDuplicate, strconv.Itoa(len(times))+" <time/> elements, want exactly one")
	}
	stamp, ok := times[0].attrValue("stamp")
	if !ok {
		return nil, perr(name, "time", ErrMissing, "no stamp attribute")
	}
	c.TimeRaw = stamp
	if c.Time, c.TimeNoZone, err = ParseTimeZone(stamp); err != nil {
		return nil, perr(name, "time", ErrBadTime, err.(*ParseError).Reason)
	}
	switch len(payloads) {
	case 0:
		return nil, perr(name, "payload", ErrMissing, "no <payload/> element")
	case 1:
	default:
		return nil, perr(name, "payload", ErrDuplicate, strconv.Itoa(len(payloads))+" <payload/> elements, want exactly one")
	}
	p := payloads[0]
	def := p.inScopeDefault()
	for _, dcl := range p.decls {
		if dcl.prefix == "" {
			def = dcl.uri
		}
	}
	if def == NS || def == "" {
		def = NSClient
	}
	if c.Payload, err = serializeChildren(d, p, def); err != nil {
		return nil, perr(name, "payload", ErrTooLarge, "namespace declarations make it larger than 1 MiB")
	}
	// The first body, as Body would find it in the Payload just written:
	// a child with neither a prefix nor a default namespace declaration
	// of its own was given def.
	for _, ch := range p.children {
		space := ch.name.Space
		if !ch.declaresDefault() && !bytes.ContainsRune(d[ch.start+1:ch.start+1+nameLen(d[ch.start+1:ch.startEnd])], ':') {
			space = def
		}
		if ch.name.Local == "body" && isStanzaNS(space) {
			b := string(ch.text)
			c.body = &b
			break
		}
	}
	c.bodyOf = c.Payload
	if c.bodyOf == nil {
		c.bodyOf = []byte{}
	}
	return c, nil
}

func isAffixNS(space string) bool {
	return space == NS || space == NSClient || space == ""
}

// repairRpad handles senders that put bytes XML cannot carry into
// <rpad/> (the padding is random, and some generators are careless):
// it replaces them in the first "<rpad>…</rpad>" so that the rest can be
// parsed. It reports where the repaired rpad content starts; the caller
// must make sure this is the root's own <rpad/> (and not, say, text in a
// CDATA section of the payload).
func repairRpad(data []byte) (fixed []byte, at int, ok bool) {
	const open, close = "<rpad>", "</rpad>"
	i := bytes.Index(data, []byte(open))
	if i < 0 {
		return nil, 0, false
	}
	s := i + len(open)
	j := bytes.Index(data[s:], []byte(close))
	if j < 0 {
		return nil, 0, false
	}
	content := data[s : s+j]
	rep := make([]byte, 0, len(content)+16)
	for k := 0; k < len(content); {
		r, size := utf8.DecodeRune(content[k:])
		switch {
		case r == utf8.RuneError && size == 1, !isXMLChar(r):
			rep = append(rep, "\uFFFD"...)
		case r == '<':
			rep = append(rep, "&lt;"...)
		case r == '&' && !isReference(content[k:]):
			rep = append(rep, "&amp;"...)
		default:
			rep = append(rep, content[k:k+size]...)
		}
		k += size
	}
	if bytes.Equal(rep, content) {
		return nil, 0, false
	}
	fixed = make([]byte, 0, len(data)+len(rep)-len(content))
	fixed = append(fixed, data[:s]...)
	fixed = append(fixed, rep...)
	fixed = append(fixed, data[s+j:]...)
	return fixed, s, true
}

// isReference reports whether b starts with a well-formed XML reference
// to a predefined entity or a character.
func isReference(b []byte) bool {
	end := bytes.IndexByte(b, ';')
	if end < 2 || end > 12 {
		return false
	}
	name := string(b[1:end])
	switch name {
	case "amp", "lt", "gt", "quot", "apos":
		return true
	}
	var v uint64
	var err error
	switch {
	case len(name) > 2 && (name[:2] == "#x"):
		v, err = strconv.ParseUint(name[2:], 16, 32)
	case len(name) > 1 && name[0] == '#':
		v, err = strconv.ParseUint(name[1:], 10, 32)
	default:
		return false
	}
	return err == nil && isXMLChar(rune(v))
}

// rpadAt reports whether the root's first <rpad/> child has its content
// starting at offset at.
func rpadAt(root *node, at int) bool {
	for _, ch := range root.children {
		if ch.name.Local == "rpad" && isAffixNS(ch.name.Space) {
			return ch.startEnd == at
		}
	}
	return false
}
