package ox

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"strconv"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

// Stream management (XEP-0198). A server that delivers a stanza to a
// session whose connection has silently died (a cut, a killed client, a
// NAT that forgot it) cannot tell it was lost: the bytes left its socket.
// With stream management enabled it keeps each stanza until the client
// acknowledges it, and when the session ends with stanzas unacknowledged
// it does not drop them: the server stores them offline or relies on its
// archive (XEP-0198 §4 "unacknowledged stanzas"; ejabberd's
// resend_on_timeout, Prosody's mod_smacks). ox enables it after binding
// wherever the server offers it, answers each <r/> with the count of
// stanzas received (<a h='…'/>, §4), and acknowledges all it received
// before closing the stream.
//
// The count must be exact: a count above what the server sent is a stream
// error (§4 "handled-count-too-high"), one below makes the server resend
// or store again what was already shown. mellium hands some stanzas to
// their waiting requests and not to the session's handler (IQ results),
// so the count is not taken there but on the bytes that cross the
// connection (smConn), where every stanza passes once.

const nsSM = "urn:xmpp:sm:3"

// smConn is the connection under a session once it is authenticated
// (Dial installs it at the stream restart after SASL): it counts the
// stanzas that the server sent since it answered <enabled/>.
type smConn struct {
	net.Conn
	scan xmlScan // the inbound bytes; only the session's reader calls Read

	mu      sync.Mutex
	enabled bool   // the server sent <enabled/>
	handled uint32 // stanzas received since <enabled/>, modulo 2^32 (§4)
}

func newSMConn(c net.Conn) *smConn {
	s := &smConn{Conn: c}
	s.scan.top = s.onTop
	return s
}

// ConnectionState is the TLS state of the connection under it: mellium
// reads it through this method for channel binding and Negotiated.
func (c *smConn) ConnectionState() tls.ConnectionState {
	if tc, ok := c.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

func (c *smConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan.feed(p[:n])
	}
	return n, err
}

// onTop is told of each element the server completes at the top level of
// its stream.
func (c *smConn) onTop(local string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch local {
	case "message", "presence", "iq":
		if c.enabled {
			c.handled++
		}
	case "enabled":
		// §4: both counters start at zero when management is enabled.
		c.enabled, c.handled = true, 0
	}
}

// Handled is the count to acknowledge, and whether management is on.
func (c *smConn) Handled() (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handled, c.enabled
}

// sessionSM is the session's stream-management connection, or nil when
// the session was not made by Dial.
func sessionSM(s *xmpp.Session) *smConn {
	if s == nil {
		return nil
	}
	c, _ := s.Conn().(*smConn)
	return c
}

// ackElement is <a xmlns='urn:xmpp:sm:3' h='h'/>.
func ackElement(h uint32) xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSM, Local: "a"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "h"}, Value: strconv.FormatUint(uint64(h), 10)}}})
}

// writeAck acknowledges what the session received, if management is on.
func writeAck(w xmlstream.TokenWriter, c *smConn) error {
	h, on := c.Handled()
	if !on {
		return nil
	}
	if _, err := xmlstream.Copy(w, ackElement(h)); err != nil {
		return fmt.Errorf("stream management: acknowledge: %w", err)
	}
	return nil
}

// enableSM asks the server to manage the stream (§3) right after binding;
// a server that answers <failed/> leaves the session as it was.
func (n *negotiation) enableSM(s *xmpp.Session) error {
	w := s.TokenWriter()
	defer w.Close()
	r := s.TokenReader()
	defer r.Close()
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSM, Local: "enable"}})); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	d := xml.NewTokenDecoder(r)
	start, err := nextStart(d)
	if err != nil {
		return fmt.Errorf("stream management: %w", err)
	}
	if err := d.Skip(); err != nil {
		return fmt.Errorf("stream management: %w", err)
	}
	switch {
	case start.Name.Space == nsSM && start.Name.Local == "enabled":
		n.smEnabled = true
	case start.Name.Space == nsSM && start.Name.Local == "failed":
		// The session goes on unmanaged, as with a server without it.
	default:
		return fmt.Errorf("stream management: the server answered <enable/> with <%s xmlns='%s'>", start.Name.Local, start.Name.Space)
	}
	return nil
}

// smFeature notes that the server offers stream management; ox negotiates
// it itself after binding (§3: enabling comes after resource binding, and
// mellium would pick an optional feature before the required bind).
func (n *negotiation) smFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: nsSM, Local: "sm"},
		Necessary: xmpp.Authn,
		Parse: func(_ context.Context, d *xml.Decoder, _ *xml.StartElement) (bool, interface{}, error) {
			n.smOffered = true
			return false, nil, d.Skip()
		},
	}
}

// xmlScan follows the structure of a well-formed XML stream byte by byte,
// just enough to tell when an element at the top level of the stream (a
// stanza, or a stream-management element) is complete. It knows quoted
// attribute values, comments, CDATA sections and processing instructions;
// it does not check well-formedness (the session's decoder does).
type xmlScan struct {
	top func(local string) // an element at depth 1 of the stream ended

	st    scanState
	depth int    // elements open: the stream is 1, a stanza 2
	name  []byte // the tag's name as it is read
	cur   string // local name of the open top-level element
	quote byte   // the quote of the attribute value being read, or 0
	last  byte   // the last byte in the tag outside quotes and spaces
	term  string // what ends a comment, CDATA, PI or declaration
	match int    // how much of term was seen
}

type scanState uint8

const (
	scanText  scanState = iota
	scanLT              // after '<'
	scanBang            // after "<!"
	scanName            // a start tag's name
	scanTag             // a start tag's attributes
	scanEnd             // an end tag
	scanSkip            // until term
	scanBang2           // after "<!-" or "<![": decides comment or CDATA
)

func (s *xmlScan) feed(p []byte) {
	for _, b := range p {
		switch s.st {
		case scanText:
			if b == '<' {
				s.st = scanLT
			}
		case scanLT:
			switch b {
			case '/':
				s.st = scanEnd
			case '?':
				s.skipUntil("?>")
			case '!':
				s.st = scanBang
			default:
				s.st, s.name, s.last = scanName, append(s.name[:0], b), b
			}
		case scanBang:
			if b == '-' || b == '[' {
				s.st = scanBang2
				if b == '-' {
					s.term = "-->"
				} else {
					s.term = "]]>"
				}
			} else {
				s.skipUntil(">")
			}
		case scanBang2:
			// "<!--" or "<![CDATA[": the terminator cannot start inside
			// the opener, so matching starts after it.
			s.st, s.match = scanSkip, 0
		case scanSkip:
			s.skipByte(b)
		case scanName:
			switch {
			case b == '>':
				s.startDone()
			case isSpace(b):
				s.st = scanTag
			default:
				s.name = append(s.name, b)
				s.last = b
			}
		case scanTag:
			switch {
			case s.quote != 0:
				if b == s.quote {
					s.quote, s.last = 0, b
				}
			case b == '"' || b == '\'':
				s.quote = b
			case b == '>':
				s.startDone()
			case !isSpace(b):
				s.last = b
			}
		case scanEnd:
			if b == '>' {
				s.st = scanText
				s.depth--
				if s.depth == 1 && s.top != nil {
					s.top(s.cur)
				}
			}
		}
	}
}

func (s *xmlScan) startDone() {
	s.st = scanText
	selfClosing := s.last == '/'
	if s.depth == 1 {
		name := s.name
		if selfClosing && len(name) > 0 && name[len(name)-1] == '/' {
			name = name[:len(name)-1] // <r/>: the slash ends the name
		}
		if i := lastColon(name); i >= 0 {
			name = name[i+1:]
		}
		s.cur = string(name)
		if selfClosing {
			if s.top != nil {
				s.top(s.cur)
			}
			return
		}
	}
	if !selfClosing {
		s.depth++
	}
}

func (s *xmlScan) skipUntil(term string) {
	s.st, s.term, s.match = scanSkip, term, 0
}

func (s *xmlScan) skipByte(b byte) {
	if b == s.term[s.match] {
		s.match++
		if s.match == len(s.term) {
			s.st = scanText
		}
		return
	}
	// A partial "--" or "]]" stays partial on a third '-' or ']'.
	if s.match == 2 && s.term[0] == s.term[1] && b == s.term[0] {
		return
	}
	s.match = 0
	if b == s.term[0] {
		s.match = 1
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func lastColon(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ':' {
			return i
		}
	}
	return -1
}
