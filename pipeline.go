package ox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// The receive pipeline: every incoming OX message, however it came (live,
// the server's offline store, a carbon copy, the archive, a room's history,
// a message kept as pending, or 'ox decrypt'), goes through Process: parse
// once, open, check, apply trust, deduplicate, deliver.

// Origin says how a message reached the account.
type Origin string

const (
	OriginLive        Origin = "live"         // as it was sent
	OriginOffline     Origin = "offline"      // from the server's offline store (it carries the server's delay stamp)
	OriginCarbon      Origin = "carbon"       // a carbon copy (XEP-0280) of what another device sent or received
	OriginArchive     Origin = "archive"      // from the account's archive (XEP-0313)
	OriginRoomHistory Origin = "room-history" // replayed by a room on join (XEP-0045 §7.2.15)
	OriginInput       Origin = "input"        // handed over by the user (Decrypt)
)

// Incoming is a message stanza on its way into the pipeline, with what the
// layer that took it off the wire knows of it.
type Incoming struct {
	// Raw is the <message/> that holds the <openpgp/> (a carbon's or an
	// archive result's inner message, unwrapped).
	Raw    []byte
	Origin Origin
	// Sent marks a copy of a message the account sent (a carbon, or the
	// archive's copy).
	Sent bool
	// Delivered is when it arrived; zero means its delay stamp, or now.
	Delivered time.Time
	// Arrived is when it came off the wire, if it was read later (it
	// waited in the store); zero means now.
	Arrived time.Time
	// StanzaID is the account server's stanza-id (XEP-0359), or the
	// archive's id; empty means the one the message carries, if any.
	StanzaID string
	// Group is set for a group message by the layer that saw it arrive
	// (package muc): who wrote it, as the room said at that moment.
	Group *GroupSender
	// Refused is set when that layer could not attribute the message: it
	// is shown as rejected with this reason.
	Refused error
}

// GroupSender is who wrote a group message: the room, the nick, and the
// real JID behind it.
type GroupSender struct {
	Room   jid.JID
	Nick   string
	Sender jid.JID
	// StanzaID is the room's archive id for the message.
	StanzaID string
}

// GroupAttributor finds who wrote a group message the pipeline did not see
// arriving (one kept as pending, or one handed to Receive); package muc
// provides it with SetGroupAttributor.
type GroupAttributor func(raw []byte) (*GroupSender, time.Time, error)

// SetGroupAttributor installs the rooms' attribution of group messages.
func (c *Client) SetGroupAttributor(f GroupAttributor) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.attributor = f
}

// ErrNotOX: the stanza holds no <openpgp/> element.
var ErrNotOX = errors.New("ox: not an OX message")

// ErrMalformedOX: the stanza carries OX in a shape the spec does not allow
// (XEP-0373 §3.1: one <openpgp/>, a direct child of <message/>); what is
// in it is not shown.
var ErrMalformedOX = errors.New("ox: a malformed OX message")

// shapeError says what is wrong with a stanza's <openpgp/> elements: more
// than one, or one that is not a direct child of <message/>; nil if
// nothing is.
func shapeError(direct, nested int) error {
	switch {
	case direct > 1:
		return fmt.Errorf("%w: it holds %d <openpgp/> elements", ErrMalformedOX, direct)
	case nested > 0:
		return fmt.Errorf("%w: an <openpgp/> is not a direct child of <message/>", ErrMalformedOX)
	}
	return nil
}

// openPGPElements counts the <openpgp xmlns='urn:xmpp:openpgp:0'/> elements
// of a stanza: direct children of the root, and any deeper.
func openPGPElements(raw []byte) (direct, nested int) {
	if !bytes.Contains(raw, []byte(element.NS)) {
		return 0, 0
	}
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return direct, nested
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space == element.NS && t.Name.Local == "openpgp" {
				if depth == 2 {
					direct++
				} else if depth > 2 {
					nested++
				}
			}
		case xml.EndElement:
			depth--
		}
	}
}

// Receive reads one incoming OX message stanza (raw XML) as it arrived live:
// decrypts it, makes every receiver check, and returns the result; a
// message that cannot be read yet is kept (Pending). Library users with
// their own stanza handling call it; Serve calls it for them.
func (c *Client) Receive(ctx context.Context, raw []byte) (*Message, error) {
	return c.Process(ctx, Incoming{Raw: raw, Origin: OriginLive})
}

// Process runs one incoming message through the pipeline and returns what
// the user is to see: a message, a rejection (Message.Err), or a pending
// message (Message.Pending). A second copy of a message already handed over
// (the same stanza-id) returns nil. Accepted messages are handed to the
// OnAccepted hooks; OnMessage is left to the caller (Enqueue calls it).
func (c *Client) Process(ctx context.Context, in Incoming) (*Message, error) {
	out := &Message{Origin: in.Origin, Sent: in.Sent, StanzaID: in.StanzaID, Delivered: in.Delivered}
	m, err := element.ParseMessage(in.Raw)
	if err != nil {
		// Refused with its reason, never dropped: who sent it, as far as
		// the stanza still says.
		out.head(in.Raw)
		if out.Delivered.IsZero() {
			out.Delivered = c.now()
		}
		out.Err = err
		if shape := shapeError(openPGPElements(in.Raw)); shape != nil {
			out.Err = shape // the stanza's shape is the more telling finding
		}
		return c.deliver(ctx, out)
	}
	direct, nested := 1, 0
	// The usual stanza names "openpgp" four times (its start and end tag,
	// its namespace, EME's namespace): only one that names it more, or
	// where ParseMessage found none, is looked at again.
	if len(m.OpenPGP) == 0 || bytes.Count(in.Raw, []byte("openpgp")) > 4 {
		direct, nested = openPGPElements(in.Raw)
	}
	if len(m.OpenPGP) == 0 && nested == 0 {
		return nil, ErrNotOX
	}
	me := c.JID()
	out.From, out.To, out.Type, out.ID = m.From, m.To, m.Type, m.ID
	if out.StanzaID == "" {
		out.StanzaID = stanzaIDBy(m, me)
	}
	if out.Delivered.IsZero() {
		out.Delivered = serverDelay(m, me)
		if !out.Delivered.IsZero() && out.Origin == OriginLive {
			out.Origin = OriginOffline
		}
	}
	if out.Delivered.IsZero() {
		out.Delivered = in.Arrived
	}
	if out.Delivered.IsZero() {
		out.Delivered = c.now()
	}
	if shape := shapeError(direct, nested); shape != nil && in.Refused == nil {
		in.Refused = shape
	}
	if in.Refused != nil {
		out.Err = in.Refused
		if in.Group != nil {
			out.Room, out.Nick, out.To, out.StanzaID = in.Group.Room, in.Group.Nick, in.Group.Room, in.Group.StanzaID
		}
		return c.deliver(ctx, out)
	}
	sender, recipient := m.From.Bare(), me
	if m.From.Equal(jid.JID{}) {
		sender = me // mellium blanks a from equal to the own bare JID
	}
	if in.Sent {
		sender, recipient = me, m.To.Bare()
	}
	if m.Type == "groupchat" {
		g := in.Group
		if g == nil {
			c.hmu.Lock()
			attr := c.attributor
			c.hmu.Unlock()
			var at time.Time
			err := fmt.Errorf("ox: a group message from %s, a room ox is not in", m.From.Bare())
			if attr != nil {
				g, at, err = attr(in.Raw)
			}
			if err != nil {
				out.Err = err
				out.Room, out.Nick, out.To = m.From.Bare(), m.From.Resourcepart(), m.From.Bare()
				out.StanzaID = stanzaIDBy(m, m.From.Bare())
				return c.deliver(ctx, out)
			}
			if in.Delivered.IsZero() && !at.IsZero() {
				out.Delivered = at
			}
		}
		out.Room, out.Nick, out.To, out.StanzaID = g.Room, g.Nick, g.Room, g.StanzaID
		if out.StanzaID == "" {
			out.StanzaID = stanzaIDBy(m, g.Room) // the room's archive id, not one the sender wrote
		}
		out.From = g.Sender
		out.Sent = g.Sender.Bare().Equal(me)
		sender, recipient = g.Sender.Bare(), g.Room
	}
	if seen, err := c.Seen(ctx, out.StanzaID); err != nil || seen {
		return nil, err // the server's own second copy: quietly once
	}
	o, err := c.Backend.Open(ctx, m.OpenPGP)
	if err != nil {
		if ownKeyProblem(err) && in.Origin != OriginInput {
			// The account's key is locked or damaged: the message is not
			// at fault, and is kept until the key can be used.
			return c.keep(ctx, in, out, sender, err)
		}
		out.Err = err
		return c.deliver(ctx, out)
	}
	var se *pgp.SignatureError
	if errors.As(o.SignatureErr, &se) && se.Unknown {
		// A sender's new key: fetch and try again (XEP-0373 §3.2).
		if _, ferr := c.fetch(ctx, sender); ferr == nil {
			if o2, err := c.Backend.Open(ctx, m.OpenPGP); err == nil {
				o = o2
			}
		}
		if errors.As(o.SignatureErr, &se) && se.Unknown && in.Origin != OriginInput {
			return c.keep(ctx, in, out, sender, o.SignatureErr)
		}
	}
	v, err := check.Message(check.Input{Opened: o, Sender: sender, Recipient: recipient, Delivered: out.Delivered}, check.Options{
		Window:    c.Window,
		Announced: func(j jid.JID, f pgp.Fingerprint) bool { return c.announcedOrAccepted(ctx, j, f) },
	})
	if err != nil {
		out.Err = err
		return c.deliver(ctx, out)
	}
	st, fromGnuPG, err := c.trustIn(ctx, sender, v.Signer)
	if err != nil {
		return nil, err
	}
	out.Trust, out.Validity, out.Signer = st, v.Signer.Validity, v.Signer.Fingerprint
	if st == trust.Rejected {
		out.Err = &TrustError{Sender: sender, Signer: v.Signer.Fingerprint, FromGnuPG: fromGnuPG}
		return c.deliver(ctx, out)
	}
	out.Time = v.Content.Time
	out.SignedAt = v.SignatureTime
	out.Body, _ = v.Content.Body()
	out.Payload = v.Content.Payload
	out.Warnings = v.Warnings
	m2, err := c.acceptAndDeliver(ctx, out, o)
	if m2 != nil && err == nil && m2.Err == nil {
		c.hmu.Lock()
		hooks := c.accepted
		c.hmu.Unlock()
		for _, h := range hooks {
			h(ctx, m2) // once per message, after deliver's repeat check
		}
	}
	return m2, err
}

// ReplayError: the same signed message was accepted before: someone sent
// a copy of it again (XEP-0373 §3.1's timestamps bound when that can work;
// this refuses it within the window too).
type ReplayError struct {
	Sender jid.JID
	Signer pgp.Fingerprint
	Signed time.Time
	// First is how the copy accepted before came.
	First Origin
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("ox: the message from %s is a replay: the same message, signed by key %s at %s, was accepted before (%s)", e.Sender, e.Signer, e.Signed.UTC().Format(time.RFC3339), e.First)
}

// AcceptedRetention is how long accepted signed messages are remembered
// to refuse replays: far longer than the time window, after which the
// time checks refuse a replay anyway.
const AcceptedRetention = 7 * 24 * time.Hour

// acceptAndDeliver hands over a message that passed every check: it
// remembers it as accepted (the signer, the signature time and the
// signed content) and records it as delivered, in one transaction (one
// commit for each message read, where there were two). A second copy of
// a message accepted before is refused as a replay (out.Err, without its
// content), unless it is the server's own second copy of one stanza (a
// carbon or an archive copy beside the live one, without a stanza-id to
// tell them by): that is dropped quietly (nil). Like deliver, it records
// whatever ctx does meanwhile.
func (c *Client) acceptAndDeliver(ctx context.Context, out *Message, o *pgp.Opened) (*Message, error) {
	if out.Origin == OriginInput || o == nil || !o.Signed {
		return c.deliver(ctx, out)
	}
	ctx = context.WithoutCancel(ctx)
	h := sha256.New()
	h.Write([]byte(out.Signer.String()))
	binary.Write(h, binary.BigEndian, o.SignatureTime.Unix())
	h.Write(o.Plaintext)
	digest := hex.EncodeToString(h.Sum(nil))
	var line []byte
	if c.Journal != nil && out.StanzaID != "" {
		line = c.Journal(out)
	}
	prev, first, seq, err := c.Store.AcceptDeliver(ctx, digest, store.Accepted{Origin: string(out.Origin), StanzaID: out.StanzaID, At: o.SignatureTime}, out.StanzaID, c.now(), line)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		if n := c.accepts.Add(1); n%256 == 1 {
			c.Store.PruneAccepted(ctx, c.now().Add(-AcceptedRetention))
		}
		if !first {
			return nil, nil // handed over before
		}
		out.Seq = seq
		return out, nil
	}
	if prev.StanzaID != "" && prev.StanzaID == out.StanzaID {
		// The very stanza the server gave before (its stanza-id, which a
		// sender cannot choose), read again because its first reading did
		// not finish: not a replay; deliver tells if it was shown.
		return c.deliver(ctx, out)
	}
	serverCopy := func(o string) bool {
		return o == string(OriginCarbon) || o == string(OriginArchive) || o == string(OriginRoomHistory)
	}
	if (prev.StanzaID == "" || out.StanzaID == "") && prev.Origin != string(out.Origin) && (serverCopy(prev.Origin) || serverCopy(string(out.Origin))) {
		return nil, nil
	}
	out.Time, out.SignedAt, out.Body, out.Payload, out.Warnings = time.Time{}, time.Time{}, "", nil, nil
	out.Err = &ReplayError{Sender: out.From.Bare(), Signer: out.Signer, Signed: o.SignatureTime, First: Origin(prev.Origin)}
	return c.deliver(ctx, out)
}

// Seen reports whether the message with the server's stanza-id id was
// handed over already, or is kept as pending: Process drops such a copy,
// and a reader of many server copies (package mam) skips it before
// unwrapping it.
func (c *Client) Seen(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	return c.Store.Seen(ctx, id)
}

// head sets m's addresses, id and type from the stanza's attributes, as
// far as a stanza that is not read whole still says them.
func (m *Message) head(raw []byte) {
	var head struct {
		From string `xml:"from,attr"`
		To   string `xml:"to,attr"`
		ID   string `xml:"id,attr"`
		Type string `xml:"type,attr"`
	}
	xml.Unmarshal(raw, &head)
	m.From, _ = jid.Parse(head.From)
	m.To, _ = jid.Parse(head.To)
	m.ID, m.Type = head.ID, head.Type
}

// retryFetches bounds the senders whose keys one RetryKept fetches.
const retryFetches = 16

// unjudged begins the reason of a message kept by unread.
const unjudged = "it could not be read now"

// unread is what becomes of a message that Process could not judge (the
// store failed, or the job ran out of time): nothing recorded it, and the
// messages after it move the archive's position past it, so it is kept as
// pending, read again with the others (RetryPending), and shown as kept
// with the reason: never dropped in silence. A message that is no OX
// message is no one's concern, and one the Client stopped reading
// (StopReading, Close) comes again by itself: nil.
func (c *Client) unread(ctx context.Context, in Incoming, err error) *Message {
	if errors.Is(err, ErrNotOX) || c.work.ctx.Err() != nil {
		return nil
	}
	out := &Message{Origin: in.Origin, Sent: in.Sent, StanzaID: in.StanzaID, Delivered: in.Delivered}
	out.head(in.Raw)
	for _, t := range []time.Time{in.Arrived, c.now()} {
		if out.Delivered.IsZero() {
			out.Delivered = t
		}
	}
	sender := out.From.Bare()
	if in.Group != nil {
		out.Room, out.Nick, out.From = in.Group.Room, in.Group.Nick, in.Group.Sender
	}
	why := fmt.Errorf("%s: %w", unjudged, err)
	m, kerr := c.keep(ctx, in, out, sender, why)
	if kerr != nil {
		// Kept nowhere: a store that takes nothing moves no archive
		// position either, so the next catch-up reads it again (and
		// without its stanza-id, this one does not move it).
		out.StanzaID = ""
		out.Err = fmt.Errorf("ox: a message could not be read (%v), nor kept (%v); it is read again from the server's archive, if it holds it", err, kerr)
		return out
	}
	m.Err = &KeptError{Err: why}
	return m
}

// keep stores a message whose signer's key is not known yet, once.
func (c *Client) keep(ctx context.Context, in Incoming, out *Message, sender jid.JID, why error) (*Message, error) {
	p := store.Pending{Sender: sender.String(), Stanza: in.Raw, Received: out.Delivered, Reason: why.Error(), StanzaID: out.StanzaID}
	if in.Group != nil {
		p.Sender = in.Group.Sender.String() // the real sender, as the room said
	}
	// As in deliver: kept is shown as kept, whatever ctx does meanwhile.
	if _, err := c.Store.AddPending(context.WithoutCancel(ctx), p); err != nil {
		return nil, err
	}
	out.Pending, out.Err = true, fmt.Errorf("%w (%v)", ErrPending, why)
	if ownKeyProblem(why) {
		out.Err = &KeptError{Err: why}
	}
	return out, nil
}

// ownKeyProblem: the account's own secret key could not be used (locked
// without its passphrase, or damaged), so nothing can be said of the
// message yet.
func ownKeyProblem(err error) bool {
	var pe *pgp.PassphraseError
	var de *pgp.DamagedKeyError
	return errors.As(err, &pe) || (errors.As(err, &de) && de.Secret)
}

// KeptError: a message is kept (pending) because the account's own key
// could not be used to read it; it is read once the key can be (the
// passphrase given, the key restored). It matches ErrPending.
type KeptError struct{ Err error }

func (e *KeptError) Error() string {
	return fmt.Sprintf("ox: the message is kept, unread: %v", e.Err)
}

func (e *KeptError) Unwrap() []error { return []error{ErrPending, e.Err} }

// deliver records a final verdict so that the same message coming again
// (offline store, archive, carbons) is not shown twice; nil means a repeat.
// A message handed over by the user (OriginInput) is not recorded.
//
// The record is written even when ctx ends meanwhile (the Client closed
// on a lost connection): the store can report a cancelled write that it
// made all the same (modernc.org/sqlite returns ctx's error for a
// statement that finished after the interrupt), and a message recorded as
// handed over but never handed over is one that no later copy brings
// back. The listen soak lost one message in about five runs, at a cut.
func (c *Client) deliver(ctx context.Context, m *Message) (*Message, error) {
	if m.StanzaID == "" || m.Origin == OriginInput {
		return m, nil
	}
	ctx = context.WithoutCancel(ctx)
	var first bool
	var err error
	if c.Journal != nil {
		first, m.Seq, err = c.Store.MarkDeliveredJournal(ctx, m.StanzaID, c.now(), c.Journal(m))
	} else {
		first, err = c.Store.MarkDelivered(ctx, m.StanzaID, c.now())
	}
	if err != nil {
		return nil, err
	}
	if !first {
		return nil, nil
	}
	return m, nil
}

// fetch is Fetch when the Client is connected; offline, what is stored is
// all there is.
func (c *Client) fetch(ctx context.Context, j jid.JID) (*FetchReport, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	return c.Fetch(ctx, j)
}

// announcedOrAccepted: the signer's key is announced for j, or j announces
// nothing and the user imported the key (accepted it) explicitly. A key
// missing from a recorded list makes ox read the list again once: a new
// device may have just been added.
func (c *Client) announcedOrAccepted(ctx context.Context, j jid.JID, f pgp.Fingerprint) bool {
	if ok, _ := c.Store.IsAnnounced(ctx, j.String(), f.String()); ok {
		return true
	}
	list, _, _, err := c.Store.Announcements(ctx, j.String())
	none := errors.Is(err, store.ErrNotFound) || (err == nil && len(list) == 0)
	if c.Session == nil {
		return none // offline: nothing recorded means the key was imported by hand
	}
	if none {
		if _, ferr := c.Fetch(ctx, j); errors.Is(ferr, ErrNoKeysPublished) {
			return true // nothing announced: the imported key was accepted by hand
		}
	} else {
		c.Fetch(ctx, j)
	}
	ok, _ := c.Store.IsAnnounced(ctx, j.String(), f.String())
	return ok
}

// RetryPending tries again the kept messages from sender (all, if zero),
// after its keys changed; it returns those that could now be read or were
// rejected for good, and keeps the others.
func (c *Client) RetryPending(ctx context.Context, sender jid.JID) ([]*Message, error) {
	s := ""
	if !sender.Equal(jid.JID{}) {
		s = sender.Bare().String()
	}
	ps, err := c.Store.PendingFrom(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []*Message
	for _, p := range ps {
		m, err := element.ParseMessage(p.Stanza)
		if err != nil {
			c.Store.DeletePending(ctx, p.ID)
			continue
		}
		o, err := c.Backend.Open(ctx, m.OpenPGP)
		var se *pgp.SignatureError
		if err == nil && errors.As(o.SignatureErr, &se) && se.Unknown {
			continue // still unknown: keep it
		}
		if ownKeyProblem(err) {
			continue // the own key still cannot be used: keep it
		}
		if err := c.Store.DeletePending(ctx, p.ID); err != nil {
			return out, err
		}
		in := Incoming{Raw: p.Stanza, Origin: OriginLive, Delivered: p.Received, StanzaID: p.StanzaID}
		if m.Type == "groupchat" {
			s, _ := jid.Parse(p.Sender) // the real sender, as the room said when it arrived
			in.Group = &GroupSender{Room: m.From.Bare(), Nick: m.From.Resourcepart(), Sender: s, StanzaID: p.StanzaID}
		}
		if !m.Delay.IsZero() {
			in.Origin = OriginOffline
		}
		msg, err := c.Process(ctx, in)
		if err != nil {
			// Not judged (the store failed, ctx ended): kept as it was.
			c.Store.AddPending(context.WithoutCancel(ctx), p)
			continue
		}
		if msg != nil && !msg.Pending {
			out = append(out, msg)
		}
	}
	return out, nil
}

// RetryKept tries again every kept (pending) message: for each of their
// senders the keys are fetched again first, when the session is up (a
// fetch that failed when the message came, or a key published since that
// no notification brought), and the sender's messages are read again
// (RetryPending) when a key came, or when one was kept unjudged (unread).
// Not otherwise: a message kept because the account's own key is locked
// would have gpg-agent ask for the passphrase each time. The fetches are
// made outside the worker (a sender's server that does not answer holds no
// message up); the reading runs on it, after what is queued there. It
// returns what it read and how many messages are still kept; listen and
// the daemon call it from time to time while any are.
func (c *Client) RetryKept(ctx context.Context) (read []*Message, kept int, err error) {
	// The senders of the newest kept messages first, and no more than
	// retryFetches of them fetched at a time: anyone can make ox keep
	// messages, and so make it fetch their keys.
	ps, _, err := c.Store.PendingSenders(ctx, unjudged)
	if err != nil {
		return nil, 0, err
	}
	var senders []jid.JID
	fetches := 0
	for _, p := range ps {
		sender, perr := jid.Parse(p.Sender)
		if perr != nil {
			continue
		}
		retry := p.Matched
		if c.Session != nil && !retry && fetches < retryFetches {
			fetches++
			// A failure leaves the messages kept.
			if rep, ferr := c.Fetch(ctx, sender); ferr == nil && len(rep.Imported) > 0 {
				retry = true
			}
		}
		if retry {
			senders = append(senders, sender)
		}
	}
	derr := c.Do(ctx, func(ctx context.Context) {
		for _, sender := range senders {
			ms, rerr := c.RetryPending(ctx, sender)
			read = append(read, ms...)
			if rerr != nil {
				err = rerr
				return
			}
		}
		_, kept, err = c.Store.PendingSenders(ctx, unjudged)
	})
	if err == nil {
		err = derr
	}
	return read, kept, err
}

// serverDelay is the XEP-0203 delay stamp the account's own server put on
// a message it kept offline (from its domain, or the account's bare JID);
// zero if there is none. A stamp anyone else wrote is ignored: a sender
// could date an old message (a replay) to pass the time checks.
func serverDelay(m *element.Message, me jid.JID) time.Time {
	for _, d := range m.Delays {
		from, err := jid.Parse(d.From)
		if err != nil || d.Stamp.IsZero() {
			continue
		}
		if from.Equal(me.Domain()) || from.Equal(me.Bare()) {
			return d.Stamp
		}
	}
	return time.Time{}
}

// stanzaIDBy is the XEP-0359 <stanza-id/> that by (the account's
// server-side archive, or a room) put on the message; others could be
// forged by the sender.
func stanzaIDBy(m *element.Message, by jid.JID) string {
	for _, s := range m.StanzaIDs {
		if bj, err := jid.Parse(s.By); err == nil && bj.Equal(by.Bare()) {
			return s.ID
		}
	}
	return ""
}

// inboxMeta is how a message kept in the inbox arrived.
type inboxMeta struct {
	Origin    Origin      `json:"origin"`
	Sent      bool        `json:"sent,omitempty"`
	Delivered time.Time   `json:"delivered"`
	Arrived   time.Time   `json:"arrived"`
	StanzaID  string      `json:"stanza_id,omitempty"`
	Group     *inboxGroup `json:"group,omitempty"`
	Refused   string      `json:"refused,omitempty"`
}

type inboxGroup struct {
	Room, Nick, Sender, StanzaID string
}

// spill keeps an incoming message in the store's inbox (the worker is
// behind).
func (c *Client) spill(ctx context.Context, in Incoming) error {
	meta := inboxMeta{Origin: in.Origin, Sent: in.Sent, Delivered: in.Delivered, Arrived: in.Arrived, StanzaID: in.StanzaID}
	if meta.Arrived.IsZero() {
		meta.Arrived = c.now() // when it arrived, not when it is read
	}
	if in.Group != nil {
		meta.Group = &inboxGroup{in.Group.Room.String(), in.Group.Nick, in.Group.Sender.String(), in.Group.StanzaID}
	}
	if in.Refused != nil {
		meta.Refused = in.Refused.Error()
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return c.Store.AddInbox(ctx, in.Raw, b)
}

// drainInbox reads what waits in the inbox, in order, until it is empty.
func (c *Client) drainInbox(w *worker) {
	for {
		w.mu.Lock()
		if !w.spilled {
			w.mu.Unlock()
			return
		}
		kept, err := c.Store.Inbox(w.ctx, 64)
		if err == nil && len(kept) == 0 {
			w.spilled = false
		}
		w.mu.Unlock()
		if err != nil || len(kept) == 0 {
			return
		}
		// What was read is forgotten in one write per batch, also when
		// the worker stops half-way: a message read but not yet forgotten
		// when the process dies is read again, and dropped as the repeat
		// it is (Seen).
		read := 0
		forget := func() bool {
			if read == 0 {
				return true
			}
			return c.Store.DeleteInboxRange(context.WithoutCancel(w.ctx), kept[0].ID, kept[read-1].ID) == nil
		}
		for _, k := range kept {
			if w.ctx.Err() != nil {
				forget()
				return
			}
			var meta inboxMeta
			json.Unmarshal(k.Meta, &meta)
			in := Incoming{Raw: k.Stanza, Origin: meta.Origin, Sent: meta.Sent, Delivered: meta.Delivered, Arrived: meta.Arrived, StanzaID: meta.StanzaID}
			if g := meta.Group; g != nil {
				room, _ := jid.Parse(g.Room)
				sender, _ := jid.Parse(g.Sender)
				in.Group = &GroupSender{Room: room, Nick: g.Nick, Sender: sender, StanzaID: g.StanzaID}
			}
			if meta.Refused != "" {
				in.Refused = errors.New(meta.Refused)
			}
			ctx, cancel := context.WithTimeout(w.ctx, jobTimeout)
			c.processAndEmit(ctx, in)
			cancel()
			if w.ctx.Err() != nil {
				// Stopped during it: perhaps not read to its end, so kept.
				forget()
				return
			}
			read++
		}
		if !forget() {
			return
		}
	}
}
