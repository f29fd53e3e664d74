package element

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"time"

	"mellium.im/xmpp/jid"
)

// MarshalOpenPGP returns the <openpgp/> element of XEP-0373 §3.1 for a
// raw (binary, not armored) OpenPGP message:
// <openpgp xmlns="urn:xmpp:openpgp:0">BASE64</openpgp>, Base64 of RFC 4648
// §4 on one line.
func MarshalOpenPGP(msg []byte) []byte {
	const open, close = `<openpgp xmlns="` + NS + `">`, `</openpgp>`
	out := make([]byte, 0, len(open)+base64.StdEncoding.EncodedLen(len(msg))+len(close))
	out = append(out, open...)
	out = base64.StdEncoding.AppendEncode(out, msg)
	return append(out, close...)
}

// ParseOpenPGP reads an <openpgp/> element (XEP-0373 §3.1) on its own and
// returns the raw OpenPGP message bytes.
//
// The Base64 text is read tolerantly: white space and newlines anywhere,
// missing padding. An ASCII-armored message ("-----BEGIN PGP
// MESSAGE-----", forbidden by XEP-0373 §3.1 but easy to produce) is
// dearmored here (headers and the CRC line dropped, the CRC not checked),
// so the result is always binary OpenPGP. The first byte must be an
// OpenPGP packet tag (bit 7 set).
func ParseOpenPGP(data []byte) ([]byte, error) {
	if msg, ok := fastOpenPGP(data); ok {
		return msg, nil
	}
	root, _, err := parseTree(data, 1, "openpgp")
	if err != nil {
		return nil, err
	}
	if root.name.Local != "openpgp" || root.name.Space != NS {
		return nil, unexpected("openpgp", root.name, NS)
	}
	return openpgpData(root)
}

// fastOpenPGP reads the element as ox and most clients write it (one
// start tag in OX's namespace, Base64 only, the end tag) without the XML
// decoder, which reads the text a byte at a time: the receive path's
// profile showed it as a seventh of the whole decrypt. Anything else, it
// leaves to the full parser, which also gives the errors.
func fastOpenPGP(data []byte) ([]byte, bool) {
	const end = "</openpgp>"
	if len(data) > MaxSize {
		return nil, false
	}
	d := bytes.TrimSpace(data)
	for _, start := range []string{`<openpgp xmlns="` + NS + `">`, `<openpgp xmlns='` + NS + `'>`} {
		if !bytes.HasPrefix(d, []byte(start)) || !bytes.HasSuffix(d, []byte(end)) || len(d) < len(start)+len(end) {
			continue
		}
		text := d[len(start) : len(d)-len(end)]
		for _, c := range text {
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
				return nil, false
			}
		}
		msg := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		n, err := base64.StdEncoding.Decode(msg, text)
		if err != nil || n == 0 || msg[0]&0x80 == 0 {
			return nil, false
		}
		return msg[:n], true
	}
	return nil, false
}

func openpgpData(n *node) ([]byte, error) {
	msg, _, reason, sentinel := decodeData(string(n.text), armorMessage)
	if sentinel != nil {
		return nil, perr("openpgp", "", sentinel, reason)
	}
	return msg, nil
}

// Message is a <message/> stanza as another client sends it, read for the
// parts OX needs (XEP-0373 §3.1, XEP-0374 §2.2 and §3.2).
type Message struct {
	From, To jid.JID // zero when absent or not a valid JID
	FromRaw  string  // the attributes as written
	ToRaw    string
	// Type is the type attribute, "" when absent: go-sendxmpp and xmppc
	// send OX messages without one (RFC 6121 §5.2.2 says "normal" then).
	Type string
	ID   string

	// Body is the unencrypted fallback <body/> (XEP-0374 §3.2). It is
	// NEVER the message: anyone on the path can write it. It is kept for
	// diagnostics ("this client says: …") and to tell OX messages apart
	// from plaintext ones.
	Body    string
	HasBody bool

	// OpenPGP is the decoded content of the first <openpgp/> element: the
	// raw OpenPGP message; nil if the message has none.
	OpenPGP []byte

	// EME is the namespace attribute of <encryption xmlns='urn:xmpp:eme:0'/>
	// (XEP-0380), "" if absent.
	EME string
	// Store is true when <store xmlns='urn:xmpp:hints'/> is present
	// (XEP-0334 §4.4).
	Store bool
	// Delay is the XEP-0203 <delay/> stamp (offline delivery), zero if
	// absent or unparsable; DelayRaw is the stamp as written.
	Delay    time.Time
	DelayRaw string
	// Delays are all its XEP-0203 <delay/> elements, each with the entity
	// that says it added it: only one added by a trusted entity (the
	// account's server for offline delivery) means anything, since a
	// sender can write any.
	Delays []Delay
	// ChatState is the local name of an XEP-0085 chat state element
	// outside the encryption ("active", "composing", ...), "" if none.
	ChatState string
	// StanzaIDs are the XEP-0359 <stanza-id/> elements, each with the
	// entity that says it put it there (a server, a room); only the one by
	// a trusted entity means anything (a sender can write any).
	StanzaIDs []StanzaID
}

// Delay is one XEP-0203 <delay from stamp/>; Stamp is zero if unparsable.
type Delay struct {
	From  string
	Stamp time.Time
}

func delayOf(n *node) Delay {
	from, _ := n.attrValue("from")
	raw, _ := n.attrValue("stamp")
	t, _ := ParseTime(raw)
	return Delay{From: from, Stamp: t}
}

// StanzaID is one XEP-0359 <stanza-id by id/>.
type StanzaID struct{ By, ID string }

// ParseMessage reads a <message/> stanza qualified by jabber:client,
// jabber:server or no namespace at all (a stanza cut out of a stream by a
// log, as in Prosody's debug output); or, as a convenience, a bare
// <openpgp/> element, in which case only OpenPGP is set.
//
// Unknown children and attributes are ignored. Forwarded messages
// (carbons, MAM) are not unwrapped: that is the session's job, because
// only it knows whom to trust to forward.
func ParseMessage(data []byte) (*Message, error) {
	root, _, err := parseTree(data, 2, "message")
	if err != nil {
		return nil, err
	}
	m := new(Message)
	if root.name.Local == "openpgp" && root.name.Space == NS {
		if m.OpenPGP, err = openpgpData(root); err != nil {
			return nil, err
		}
		return m, nil
	}
	if root.name.Local != "message" || !isStanzaNS(root.name.Space) {
		return nil, unexpected("message", root.name, NSClient)
	}
	m.FromRaw, _ = root.attrValue("from")
	m.ToRaw, _ = root.attrValue("to")
	m.Type, _ = root.attrValue("type")
	m.ID, _ = root.attrValue("id")
	if m.FromRaw != "" {
		m.From, _ = jid.Parse(m.FromRaw)
	}
	if m.ToRaw != "" {
		m.To, _ = jid.Parse(m.ToRaw)
	}
	modernDelay := false
	for _, c := range root.children {
		switch {
		case c.name.Local == "body" && isStanzaNS(c.name.Space):
			if !m.HasBody {
				m.Body, m.HasBody = string(c.text), true
			}
		case c.name.Local == "openpgp" && c.name.Space == NS:
			if m.OpenPGP == nil {
				if m.OpenPGP, err = openpgpData(c); err != nil {
					return nil, err
				}
			}
		case c.name.Local == "encryption" && c.name.Space == NSEME:
			if m.EME == "" {
				m.EME, _ = c.attrValue("namespace")
			}
		case c.name.Local == "store" && c.name.Space == NSHints:
			m.Store = true
		case c.name.Local == "delay" && c.name.Space == NSDelay && modernDelay:
			m.Delays = append(m.Delays, delayOf(c))
		case c.name.Local == "delay" && c.name.Space == NSDelay && !modernDelay,
			c.name.Local == "x" && c.name.Space == "jabber:x:delay" && m.DelayRaw == "":
			// The first XEP-0203 delay wins; the legacy XEP-0091 form
			// only when there is no XEP-0203 one.
			if c.name.Space == NSDelay {
				m.Delays = append(m.Delays, delayOf(c))
			}
			modernDelay = modernDelay || c.name.Space == NSDelay
			m.DelayRaw, _ = c.attrValue("stamp")
			m.Delay, _ = ParseTime(m.DelayRaw)
		case c.name.Local == "stanza-id" && c.name.Space == NSStanzaID:
			by, _ := c.attrValue("by")
			id, _ := c.attrValue("id")
			m.StanzaIDs = append(m.StanzaIDs, StanzaID{By: by, ID: id})
		case c.name.Space == NSChatStates && m.ChatState == "":
			m.ChatState = c.name.Local
		}
	}
	return m, nil
}

func isStanzaNS(space string) bool {
	return space == NSClient || space == NSServer || space == ""
}

func unexpected(elem string, got xml.Name, wantNS string) error {
	ns := got.Space
	if ns == "" {
		ns = "no namespace"
	}
	return perr(elem, "", ErrUnexpectedElement,
		"got <"+got.Local+"/> in "+quoteShort(ns)+", want <"+elem+"/> in "+quoteShort(wantNS))
}

// MarshalOpenPGPText is the text content of the <openpgp/> element for an
// OpenPGP message: its Base64 (XEP-0373 §3.1).
func MarshalOpenPGPText(msg []byte) string { return base64.StdEncoding.EncodeToString(msg) }
