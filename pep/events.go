package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// Event is a pubsub event notification (XEP-0060 §7.1.2, §7.2.2, §8.4.2,
// §8.5.2) as PEP sends it (XEP-0163): a message carrying
//
//	<event xmlns='http://jabber.org/protocol/pubsub#event'>
//	  <items node='…'><item id='…'>payload?</item><retract id='…'/></items>
//	</event>
//
// or <delete node='…'/> or <purge node='…'/> in the <event/>.
type Event struct {
	// From is the PEP service, i.e. the account that published (a bare
	// JID). It is the zero JID for the own account's events received
	// through a mellium session, which blanks a from equal to the own bare
	// JID.
	From jid.JID
	Node string
	// Items are the published items, Payload nil when the node is
	// notification-only (pubsub#deliver_payloads false).
	Items     []Item
	Retracted []string // ids of retracted items
	Deleted   bool     // the node was deleted
	Purged    bool     // all items of the node were removed
}

// ParseEvent reads a <message/> stanza. ok is false, with no error, when it
// is not a pubsub event; an event whose structure is broken (no node, bad
// from) is an error. Other children of the message (delay, addresses, a
// body) are ignored.
func ParseEvent(stanzaXML []byte) (*Event, bool, error) {
	if len(stanzaXML) > maxStanza {
		return nil, false, errTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(stanzaXML))
	root, err := rootStart(d)
	if err != nil {
		return nil, false, fmt.Errorf("pep: event: malformed XML: %w", err)
	}
	if root.Name.Local != "message" || !isStanzaNS(root.Name.Space) {
		return nil, false, nil
	}
	var from jid.JID
	if f := attrValue(root.Attr, "from"); f != "" {
		if from, err = jid.Parse(f); err != nil {
			return nil, false, fmt.Errorf("pep: event: from %q: %w", f, err)
		}
	}
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("pep: event: malformed XML: %w", err)
		}
		if c.Name.Space != NSPubSubEvent || c.Name.Local != "event" {
			if err := d.Skip(); err != nil {
				return nil, false, fmt.Errorf("pep: event: malformed XML: %w", err)
			}
			continue
		}
		ev, err := parseEventElement(d)
		if err != nil {
			return nil, true, fmt.Errorf("pep: event from %s: %w", from, err)
		}
		ev.From = from
		return ev, true, nil
	}
}

func isStanzaNS(space string) bool {
	return space == "" || space == stanza.NSClient || space == stanza.NSServer
}

// parseEventElement reads the children of <event/>.
func parseEventElement(d *xml.Decoder) (*Event, error) {
	ev := &Event{}
	seen := false
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("malformed XML: %w", err)
		}
		if c.Name.Space != NSPubSubEvent {
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		node := attrValue(c.Attr, "node")
		switch c.Name.Local {
		case "items", "delete", "purge", "configuration":
			if node == "" {
				return nil, fmt.Errorf("<%s/> without node", c.Name.Local)
			}
			if seen && node != ev.Node {
				return nil, fmt.Errorf("event for two nodes, %q and %q", ev.Node, node)
			}
			ev.Node, seen = node, true
		}
		switch c.Name.Local {
		case "items":
			if err := parseEventItems(d, ev); err != nil {
				return nil, err
			}
			continue
		case "delete":
			ev.Deleted = true
		case "purge":
			ev.Purged = true
		}
		if err := d.Skip(); err != nil {
			return nil, err
		}
	}
	if !seen {
		return nil, errors.New("<event/> without items, delete, purge or configuration")
	}
	return ev, nil
}

func parseEventItems(d *xml.Decoder, ev *Event) error {
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		switch {
		case c.Name.Local == "item" && c.Name.Space == NSPubSubEvent:
			it, err := parseItem(d, c)
			if err != nil {
				return fmt.Errorf("malformed XML: %w", err)
			}
			ev.Items = append(ev.Items, it)
			continue
		case c.Name.Local == "retract" && c.Name.Space == NSPubSubEvent:
			id := attrValue(c.Attr, "id")
			if id == "" {
				return errors.New("<retract/> without id")
			}
			ev.Retracted = append(ev.Retracted, id)
		}
		if err := d.Skip(); err != nil {
			return err
		}
	}
}

// HandleEvents returns a mux option that calls f for every pubsub event
// notification, in messages of type normal (or none) and headline, the
// types servers use (Prosody: headline).
//
// A notification that arrives twice with the same from and message id is
// passed on once: Prosody 0.12 sends every PEP notification twice to a
// contact whose presence subscription is mutual, once addressed to the
// bare JID and once to the full JID, with the same id. Callers must still
// be idempotent (a server may send the same event with different ids, e.g.
// the last item again on presence).
//
// f runs on the goroutine that serves the session, which is blocked until f
// returns, so f must not wait for anything from the session (an IQ such as
// Items would never get its answer): hand the event to another goroutine
// for follow-up requests. The context passed to f is context.Background().
// Notifications that are not well-formed events are dropped without a
// word, so that a stray message cannot end the session.
func HandleEvents(f func(context.Context, Event)) mux.Option {
	seen := &recentIDs{}
	h := mux.MessageHandlerFunc(func(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
		data, err := readElement(t, maxStanza)
		if err != nil {
			if errors.Is(err, errTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		ev, ok, err := ParseEvent(data)
		if err != nil || !ok {
			return nil
		}
		if msg.ID != "" && seen.add(msg.From.String()+" "+msg.ID) {
			return nil
		}
		f(context.Background(), *ev)
		return nil
	})
	name := xml.Name{Space: NSPubSubEvent, Local: "event"}
	return func(m *mux.ServeMux) {
		mux.Message(stanza.NormalMessage, name, h)(m)
		mux.Message(stanza.HeadlineMessage, name, h)(m)
	}
}

// recentIDs remembers the last few keys it was given.
type recentIDs struct {
	mu   sync.Mutex
	keys [64]string
	next int
}

// add records key and reports whether it was among the recent ones.
func (r *recentIDs) add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		if k == key {
			return true
		}
	}
	r.keys[r.next] = key
	r.next = (r.next + 1) % len(r.keys)
	return false
}
