package ox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
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
//
// Resumption (§5). A client that asks for it (Account.Resumable) keeps a
// copy of each stanza it sends until the server acknowledges it (ox asks
// with <r/> whenever copies are waiting and no request is out), and when
// the connection is lost what it leaves (ResumptionOf) lets the next Dial
// take the session over instead of binding a new one (Account.Resume):
// the server resends what ox had not received, ox resends what the server
// had not, and nothing else is needed (no presence, no catch-up). A server
// that refuses (<failed/>: the session timed out, or the server restarted)
// gets an ordinary login.

const nsSM = "urn:xmpp:sm:3"

// smConn is the connection under a session once it is authenticated
// (Dial installs it at the stream restart after SASL): it counts the
// stanzas that the server sent since it answered <enabled/>.
type smConn struct {
	net.Conn
	scan xmlScan // the inbound bytes; only the session's reader calls Read

	wmu     sync.Mutex // one Write at a time
	outScan xmlScan    // the outbound bytes, each top-level element kept

	mu      sync.Mutex
	enabled bool   // the server sent <enabled/> or <resumed/>
	handled uint32 // stanzas received since <enabled/>, modulo 2^32 (§4)
	base    uint32 // where handled starts again at <resumed/> (§5)

	// Outbound, for resumption.
	keep      bool     // resumption is asked for: keep copies once <enable/> is out
	outOn     bool     // <enable resume='true'/> was sent
	sent      uint32   // stanzas sent since then, modulo 2^32
	unacked   [][]byte // copies of the last len(unacked) of them, oldest first
	queued    int      // their bytes
	overflow  bool     // the server acknowledged too little for too long: copies dropped
	asked     bool     // an <r/> is out, not answered yet
	id        string   // the id of a resumable session (<enabled id resume='true'/>)
	addr      jid.JID  // the address bound
	resumable bool
	save      func(*Resumption) // Account.SaveResumption

	// through: this session took over a lost one (<resumed/>), and every
	// stanza of the stream up to this count reached the server: it had
	// handled it, or ox sent its copy again first thing (see covers).
	through uint32
	resumed bool
	// took: a new session that the server bound when it refused to
	// resume that stream but said how much of it it had handled
	// (<failed h/>); every stanza of it up to tookThrough reached the
	// server, as for through (resendUnhandled).
	took        string
	tookThrough uint32
}

// The copies kept for resumption are bounded: a server that does not
// acknowledge this many leaves the session not resumable (an ordinary
// login and catch-up follow a loss).
const (
	maxUnacked      = 1000
	maxUnackedBytes = 8 << 20
)

func newSMConn(c net.Conn) *smConn {
	s := &smConn{Conn: c}
	s.scan.top = s.onTop
	s.outScan.top = s.onOut
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

// Write sends p and keeps a copy of each stanza in it (once <enable/> is
// out); when copies wait for the server's acknowledgement and no request
// is out, it asks for one (<r/>) where the stream is between elements.
func (c *smConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(p)
	c.outScan.feed(p[:n])
	if err != nil || !c.outScan.between() {
		return n, err
	}
	c.mu.Lock()
	ask := c.outOn && len(c.unacked) > 0 && !c.asked
	c.asked = c.asked || ask
	c.mu.Unlock()
	if ask {
		// p went whole: a failure here is not p's, and the next read or
		// write meets it. Told as p's, it would make a stanza the server
		// may have read look like one that never went (SendPayload).
		io.WriteString(c.Conn, "<r xmlns='"+nsSM+"'/>")
	}
	return n, nil
}

// onTop is told of each element the server completes at the top level of
// its stream.
func (c *smConn) onTop(local string, _ []byte) {
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
	case "resumed":
		// §5: a resumed session counts on from where it was.
		c.enabled, c.handled = true, c.base
	}
}

// keepCopies says whether copies of what is sent are kept (resumption is
// asked for, or taken): only then does the outbound scan record each
// stanza's bytes.
func (c *smConn) keepCopies(on bool) {
	c.wmu.Lock()
	c.outScan.keep = on
	c.wmu.Unlock()
	c.mu.Lock()
	c.keep = on
	c.mu.Unlock()
}

// onOut is told of each element ox completes at the top level of its
// stream, with its bytes.
func (c *smConn) onOut(local string, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch local {
	case "message", "presence", "iq":
		if !c.outOn {
			return
		}
		c.sent++
		if c.overflow {
			return
		}
		c.unacked = append(c.unacked, bytes.Clone(raw))
		c.queued += len(raw)
		if len(c.unacked) > maxUnacked || c.queued > maxUnackedBytes {
			c.overflow, c.unacked, c.queued = true, nil, 0
		}
	case "enable":
		c.outOn, c.sent, c.unacked, c.queued = c.keep, 0, nil, 0
	}
}

// acked is the server's count of the stanzas it handled (<a h/>,
// <resumed h/>): the copies up to it are dropped. A count outside what is
// kept (an old or a wrong one) is ignored.
func (c *smConn) acked(h uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = false
	ahead := c.sent - h // stanzas sent that the server has not handled
	if c.overflow || int64(ahead) > int64(len(c.unacked)) {
		return
	}
	drop := len(c.unacked) - int(ahead)
	for _, b := range c.unacked[:drop] {
		c.queued -= len(b)
	}
	c.unacked = slices.Clone(c.unacked[drop:])
}

// written is where a stanza that a Write has just sent stands in the
// stream: the stream's id (a resumable session's, else "") and the count
// of stanzas sent so far, its own included (written after it by another
// goroutine too: the count is never below the stanza's own).
func (c *smConn) written() (stream string, seq uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outOn || !c.resumable {
		return "", 0
	}
	return c.id, c.sent
}

// covers says whether the stanza written at seq in the stream (written)
// reached the server, by this session's taking over the lost one it was
// written to: the server had handled it, or ox sent its copy again
// before anything else on this session.
func (c *smConn) covers(stream string, seq uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stream == "" {
		return false
	}
	return c.resumed && c.id == stream && int32(c.through-seq) >= 0 ||
		c.took == stream && int32(c.tookThrough-seq) >= 0
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

// Resumption is what a session that the server keeps for resumption
// leaves when its connection is lost (XEP-0198 §5): give it to the next
// Dial (Account.Resume) to take the session over.
type Resumption struct {
	id      string
	addr    jid.JID
	handled uint32   // stanzas received
	sent    uint32   // stanzas sent
	unacked [][]byte // the last of them, not acknowledged
}

// ResumptionOf is what the session's stream management leaves for
// resuming it, or nil when it cannot be resumed (the server did not
// offer it, ox did not ask, or more went unacknowledged than ox keeps).
// Take it once the session has stopped reading, and before closing it.
func ResumptionOf(sess *xmpp.Session) *Resumption {
	c := sessionSM(sess)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.resumable || c.id == "" || c.overflow || !c.enabled {
		return nil
	}
	return &Resumption{id: c.id, addr: c.addr, handled: c.handled, sent: c.sent, unacked: slices.Clone(c.unacked)}
}

// MarshalText is the Resumption as a program keeps it across a crash
// (Account.SaveResumption): the session's id, address and count of
// stanzas received, without the copies of what was sent (a caller whose
// process died was not told its message went out).
func (r *Resumption) MarshalText() ([]byte, error) {
	return json.Marshal(savedResumption{ID: r.id, JID: r.addr.String(), H: r.handled})
}

// ParseResumption reads what MarshalText wrote.
func ParseResumption(b []byte) (*Resumption, error) {
	var s savedResumption
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("ox: a saved stream resumption: %w", err)
	}
	j, err := jid.Parse(s.JID)
	if err != nil || s.ID == "" || j.Resourcepart() == "" {
		return nil, fmt.Errorf("ox: a saved stream resumption names no session (id %q, JID %q)", s.ID, s.JID)
	}
	return &Resumption{id: s.ID, addr: j, handled: s.H}, nil
}

type savedResumption struct {
	ID  string `json:"id"`
	JID string `json:"jid"`
	H   uint32 `json:"h"`
}

// saveAt hands the session's Resumption, with the count h the server will
// hold, to Account.SaveResumption (if set and the session is resumable).
func (c *smConn) saveAt(h uint32) {
	c.mu.Lock()
	save, ok := c.save, c.resumable && c.id != ""
	r := &Resumption{id: c.id, addr: c.addr, handled: h}
	c.mu.Unlock()
	if save != nil && ok {
		save(r)
	}
}

// ackElement is <a xmlns='urn:xmpp:sm:3' h='h'/>.
func ackElement(h uint32) xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSM, Local: "a"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "h"}, Value: strconv.FormatUint(uint64(h), 10)}}})
}

// writeAck acknowledges what the session received, if management is on.
// The count is saved first (Account.SaveResumption): a process that dies
// after the server took it resumes from it, never from less (Prosody
// refuses a count below the last acknowledged one).
func writeAck(w xmlstream.TokenWriter, c *smConn) error {
	h, on := c.Handled()
	if !on {
		return nil
	}
	c.saveAt(h)
	if _, err := xmlstream.Copy(w, ackElement(h)); err != nil {
		return fmt.Errorf("stream management: acknowledge: %w", err)
	}
	return nil
}

// enableSM asks the server to manage the stream (§3) right after binding,
// and to keep the session for resumption if resume; a server that
// answers <failed/> leaves the session as it was.
func (n *negotiation) enableSM(s *xmpp.Session, resume bool, save func(*Resumption)) error {
	w := s.TokenWriter()
	defer w.Close()
	r := s.TokenReader()
	defer r.Close()
	enable := xml.StartElement{Name: xml.Name{Space: nsSM, Local: "enable"}}
	if resume {
		enable.Attr = []xml.Attr{{Name: xml.Name{Local: "resume"}, Value: "true"}}
	}
	if c := sessionSM(s); c != nil {
		// Copies of what is sent are for resuming; a session that will
		// not be resumed keeps none (and asks for no acknowledgements).
		c.keepCopies(resume)
	}
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(nil, enable)); err != nil {
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
		if c := sessionSM(s); c != nil && resume {
			c.mu.Lock()
			c.id, c.addr = attr(start, "id"), s.LocalAddr()
			c.resumable = c.id != "" && (attr(start, "resume") == "true" || attr(start, "resume") == "1")
			c.save = save
			c.mu.Unlock()
			c.saveAt(0)
		}
	case start.Name.Space == nsSM && start.Name.Local == "failed":
		// The session goes on unmanaged, as with a server without it.
	default:
		return fmt.Errorf("stream management: the server answered <enable/> with <%s xmlns='%s'>", start.Name.Local, start.Name.Space)
	}
	return nil
}

// resumeSM asks the server to resume the session r left (§5) instead of
// binding a new one. It says whether the server did; a refusal
// (<failed/>) is not an error: an ordinary login follows. A refusal that
// says how many of the lost session's stanzas the server handled
// (<failed h='…'/>: Prosody's after a restart or a timeout) is noted
// (n.refusedAt) for resendUnhandled.
func (n *negotiation) resumeSM(s *xmpp.Session, r *Resumption, save func(*Resumption)) (bool, error) {
	c := sessionSM(s)
	c.mu.Lock()
	c.base = r.handled
	c.mu.Unlock()
	w := s.TokenWriter()
	defer w.Close()
	rd := s.TokenReader()
	defer rd.Close()
	resume := xml.StartElement{Name: xml.Name{Space: nsSM, Local: "resume"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "previd"}, Value: r.id},
		{Name: xml.Name{Local: "h"}, Value: strconv.FormatUint(uint64(r.handled), 10)}}}
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(nil, resume)); err != nil {
		return false, err
	}
	if err := w.Flush(); err != nil {
		return false, err
	}
	d := xml.NewTokenDecoder(rd)
	start, err := nextStart(d)
	if err != nil {
		return false, fmt.Errorf("stream management: resume: %w", err)
	}
	if err := d.Skip(); err != nil {
		return false, fmt.Errorf("stream management: resume: %w", err)
	}
	switch {
	case start.Name.Space == nsSM && start.Name.Local == "failed":
		if h, err := strconv.ParseUint(attr(start, "h"), 10, 32); err == nil {
			n.refused, n.refusedAt = r, uint32(h)
		}
		return false, nil
	case start.Name.Space != nsSM || start.Name.Local != "resumed":
		return false, fmt.Errorf("stream management: the server answered <resume/> with <%s xmlns='%s'>", start.Name.Local, start.Name.Space)
	}
	h, err := strconv.ParseUint(attr(start, "h"), 10, 32)
	if err != nil {
		return false, fmt.Errorf("stream management: the server resumed with a count that is not one (h=%q)", attr(start, "h"))
	}
	// The session goes on as it was: its address, its id, and the copies
	// of what the server had not handled, which are sent again (and kept
	// again until acknowledged). Requests (IQ get and set) are not: whoever
	// made them was told the connection was lost, and may make them again.
	c.keepCopies(true)
	c.mu.Lock()
	c.id, c.addr, c.resumable, c.save = r.id, r.addr, true, save
	c.outOn, c.sent, c.unacked = true, r.sent, slices.Clone(r.unacked)
	for _, b := range c.unacked {
		c.queued += len(b)
	}
	c.mu.Unlock()
	c.acked(uint32(h))
	c.mu.Lock()
	again := c.unacked
	c.sent, c.unacked, c.queued = uint32(h), nil, 0
	// What the server handled, and what is sent again now: all the old
	// session sent when its copies were taken, unless the server handled
	// fewer than ox kept copies of (then only what it handled).
	c.resumed, c.through = true, uint32(h)
	if int64(r.sent-uint32(h)) <= int64(len(r.unacked)) {
		c.through = r.sent
	}
	c.mu.Unlock()
	c.saveAt(r.handled)
	for _, b := range again {
		if isRequest(b) {
			continue
		}
		if _, err := c.Write(b); err != nil {
			return false, fmt.Errorf("stream management: resend: %w", err)
		}
	}
	return true, nil
}

// resendUnhandled sends again, on the new session bound after a refused
// resumption, the messages of the lost session that the server said it
// had not handled (those after the h of its <failed/>, §5), of which ox
// kept copies, and notes how far the lost stream is settled (covers): a
// send the lost connection took is then confirmed by this session
// (Client.Confirm). Only messages are sent again, and
// not those to rooms: the new session has its own presence, is in no
// room, and whoever made a request was told the connection was lost. It
// is called once the new session is bound and managed, so that what it
// sends again is counted and kept there.
func (n *negotiation) resendUnhandled(s *xmpp.Session) error {
	r, h, c := n.refused, n.refusedAt, sessionSM(s)
	if r == nil || c == nil || int32(r.sent-h) < 0 {
		return nil // a count above what was sent says nothing to go by
	}
	again, through := r.unacked, h
	if ahead := r.sent - h; int64(ahead) <= int64(len(r.unacked)) {
		// ox has a copy of each stanza the server did not handle.
		again, through = r.unacked[len(r.unacked)-int(ahead):], r.sent
	}
	for _, b := range again {
		if !isDirectMessage(b) {
			continue
		}
		if _, err := c.Write(b); err != nil {
			return fmt.Errorf("stream management: resend: %w", err)
		}
		n.resent++
	}
	c.mu.Lock()
	c.took, c.tookThrough = r.id, through
	c.mu.Unlock()
	n.settled = true
	return nil
}

// isDirectMessage says whether a stanza's bytes are a message that is not
// to a room: a new session is in no room, which would refuse it.
func isDirectMessage(raw []byte) bool {
	start, err := nextStart(xml.NewDecoder(bytes.NewReader(raw)))
	return err == nil && start.Name.Local == "message" && attr(start, "type") != "groupchat"
}

// isRequest says whether a stanza's bytes are an IQ get or set.
func isRequest(raw []byte) bool {
	start, err := nextStart(xml.NewDecoder(bytes.NewReader(raw)))
	if err != nil || start.Name.Local != "iq" {
		return false
	}
	t := attr(start, "type")
	return t == "get" || t == "set"
}

func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
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
	top  func(local string, raw []byte) // an element at depth 1 of the stream ended; raw when keep
	keep bool                           // keep each top-level element's bytes
	in   bool                           // within a top-level element (when keep)
	raw  []byte                         // its bytes so far

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
		if s.keep {
			if s.st == scanText && b == '<' && s.depth == 1 {
				s.in, s.raw = true, s.raw[:0]
			}
			if s.in {
				s.raw = append(s.raw, b)
			}
		}
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
				if s.depth == 1 {
					s.ended()
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
			s.ended()
			return
		}
	}
	if !selfClosing {
		s.depth++
	}
}

// ended reports the top-level element just completed.
func (s *xmlScan) ended() {
	var raw []byte
	if s.in {
		raw, s.in = s.raw, false
	}
	if s.top != nil {
		s.top(s.cur, raw)
	}
}

// between says whether the stream is between top-level elements: inside
// the stream's root, outside any element, comment or declaration.
func (s *xmlScan) between() bool { return s.depth == 1 && s.st == scanText }

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
