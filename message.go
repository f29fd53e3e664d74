package ox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// Fallback is the plaintext <body/> beside <openpgp/> for clients that do
// not speak OX (XEP-0374 §3.2). It is never shown as a message.
const Fallback = "This message is encrypted with OpenPGP for XMPP (XEP-0373), which your client does not support."

// DefaultMaxKeyAge is how old a contact's recorded announcements may be
// before a send reads them again, for a client that follows key changes
// through notifications (Serve); see Client.MaxKeyAge.
const DefaultMaxKeyAge = time.Hour

func (c *Client) maxKeyAge() time.Duration {
	if c.MaxKeyAge != 0 {
		return c.MaxKeyAge
	}
	return DefaultMaxKeyAge
}

// Message is an OX message received, or a copy of one the account sent
// from another device (Sent).
type Message struct {
	From, To  jid.JID
	Type      string // "chat", "" (go-sendxmpp and xmppc send none), "groupchat"
	ID        string // the sender's id
	StanzaID  string // the server's XEP-0359 stanza-id, if any
	Sent      bool   // a carbon copy of a message sent by another device of the account
	Delivered time.Time
	// Time is the sender's <time/>.
	Time time.Time
	// Body is the text of the payload's <body/>; Payload is every payload
	// element (corrections, replies, chat states…) as XML.
	Body    string
	Payload []byte
	Signer  pgp.Fingerprint
	// Trust is the user's trust in the signing key: a message signed by an
	// undecided key is shown with a marker; one signed by a rejected key is
	// refused (Err is a *TrustError).
	Trust trust.State
	// Warnings are oddities that do not make the message untrustworthy.
	Warnings []string
	// Err is set when the message is rejected (a failed check, not for us,
	// tampered): it must be shown as rejected, with Err as the reason,
	// never as a message. Pending messages have Err set too.
	Err error
	// Pending means the message cannot be read yet (its signer's key is not
	// known); it is kept and read once the key arrives.
	Pending bool
	// Room is the room's bare JID for a group chat message (type
	// groupchat), and Nick the sender's nick in it; From is then the
	// sender's real JID, To the room, and Sent says it came from the
	// account itself (the room reflects every message).
	Room jid.JID
	Nick string
}

// NoUsableKeyError: a recipient has no key that a message can be encrypted
// to. Reasons says why for each key, or that none is published.
type NoUsableKeyError struct {
	JID     jid.JID
	Reasons []string
}

func (e *NoUsableKeyError) Error() string {
	return fmt.Sprintf("ox: no usable key for %s: %s", e.JID, strings.Join(e.Reasons, "; "))
}

// ErrPending: a received message cannot be read yet; it is kept.
var ErrPending = errors.New("ox: the sender's key is not known yet; the message is kept and read once it is")

// SendReport says to which keys a message went.
type SendReport struct {
	ID         string
	Recipients []pgp.Fingerprint
	Self       []pgp.Fingerprint
	// Undecided are the recipient's usable keys left out because the user
	// has not decided to trust them: those devices cannot read it.
	Undecided []pgp.Fingerprint
}

// Send sends body to `to` as an XEP-0374 chat message: a <signcrypt/>
// encrypted to every usable announced key of the recipient and of the
// account, with a plaintext fallback, EME (XEP-0380) and a store hint
// (XEP-0334). It returns once the server has taken the stanza. There is no
// plaintext fallback when no key is usable: that is a *NoUsableKeyError.
func (c *Client) Send(ctx context.Context, to jid.JID, body string) (*SendReport, error) {
	to = to.Bare()
	signer, err := c.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	rcpt, undecided, err := c.resolveKeys(ctx, to)
	if err != nil {
		return nil, err
	}
	self := c.selfKeys(ctx, signer)
	content, err := element.NewContent(element.KindSigncrypt, []jid.JID{to}, c.now(), element.BodyPayload(body))
	if err != nil {
		return nil, err
	}
	plain, err := content.Marshal()
	if err != nil {
		return nil, err
	}
	ct, err := c.Backend.Seal(ctx, plain, pgp.SealOptions{Signer: signer, Recipients: append(append([]pgp.Fingerprint{}, rcpt...), self...)})
	if err != nil {
		return nil, err
	}
	id := randomID()
	msg := stanza.Message{To: to, Type: stanza.ChatMessage, ID: id}.Wrap(xmlstream.MultiReader(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(Fallback)), xml.StartElement{Name: xml.Name{Local: "body"}}),
		xmlstream.Wrap(xmlstream.Token(xml.CharData(element.MarshalOpenPGPText(ct))), xml.StartElement{Name: xml.Name{Space: element.NS, Local: "openpgp"}}),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: element.NSEME, Local: "encryption"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "namespace"}, Value: element.NS},
			{Name: xml.Name{Local: "name"}, Value: "OpenPGP for XMPP"},
		}}),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: element.NSHints, Local: "store"}}),
	))
	if err := c.Session.Send(ctx, msg); err != nil {
		return nil, fmt.Errorf("ox: send to %s: %w", to, err)
	}
	// A ping answered means the server has read everything before it.
	if err := ping.Send(ctx, c.Session, c.JID().Domain()); err != nil {
		return nil, fmt.Errorf("ox: the server did not confirm the message to %s: %w", to, err)
	}
	return &SendReport{ID: id, Recipients: rcpt, Self: self, Undecided: undecided}, nil
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "ox-" + hex.EncodeToString(b)
}

// signingKey is the account's newest own key that can sign now.
func (c *Client) signingKey(ctx context.Context) (pgp.Fingerprint, error) {
	ks, err := c.Backend.SecretKeys(ctx)
	if err != nil {
		return pgp.Fingerprint{}, err
	}
	me := c.JID()
	for _, k := range ks {
		if k.HasUserID(me) && k.CanSign(c.now()) {
			return k.Fingerprint, nil
		}
	}
	return pgp.Fingerprint{}, fmt.Errorf("ox: account %s has no usable key (none, or all expired or revoked): %w", me, pgp.ErrNoSecretKey)
}

// usableKeys resolves a recipient's keys that a message may go to: those
// it announces (fetched when unknown or stale), or for a contact that
// announces nothing the keys the user imported for it, that can be
// encrypted to now and are trusted (blindly or verified).
func (c *Client) usableKeys(ctx context.Context, to jid.JID) ([]pgp.Fingerprint, error) {
	keys, _, err := c.resolveKeys(ctx, to)
	return keys, err
}

// resolveKeys is usableKeys, also naming the usable keys left out because
// they are undecided (trust.Undecided), which the sender is told about.
func (c *Client) resolveKeys(ctx context.Context, to jid.JID) (keys, undecided []pgp.Fingerprint, err error) {
	_, _, fetched, err := c.Store.Announcements(ctx, to.String())
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.now().Sub(fetched) > c.maxKeyAge()) {
		_, ferr := c.Fetch(ctx, to)
		if ferr != nil && !errors.Is(ferr, ErrNoKeysPublished) {
			return nil, nil, ferr
		}
	} else if err != nil {
		return nil, nil, err
	}
	announced, _, _, aerr := c.Store.Announcements(ctx, to.String())
	isAnnounced := map[string]bool{}
	for _, a := range announced {
		isAnnounced[a.Fingerprint] = true
	}
	ks, err := c.Backend.Lookup(ctx, to)
	if err != nil {
		return nil, nil, err
	}
	var why []string
	for _, k := range ks {
		if aerr == nil && len(announced) > 0 && !isAnnounced[k.Fingerprint.String()] {
			why = append(why, "key "+k.Fingerprint.String()+" is no longer announced")
			continue
		}
		if err := k.Usable(c.now()); err != nil {
			why = append(why, strings.TrimPrefix(err.Error(), "pgp: "))
			continue
		}
		st, err := c.TrustState(ctx, to, k.Fingerprint)
		if err != nil {
			return nil, nil, err
		}
		switch st {
		case trust.Rejected:
			why = append(why, "key "+k.Fingerprint.String()+" is rejected by you")
			continue
		case trust.Undecided:
			undecided = append(undecided, k.Fingerprint)
			why = append(why, "key "+k.Fingerprint.String()+" is undecided (verify it: ox trust verify "+to.String()+" FINGERPRINT)")
			continue
		}
		keys = append(keys, k.Fingerprint)
	}
	if len(keys) == 0 {
		if len(ks) == 0 {
			why = []string{"no keys published (and none imported)"}
		}
		return nil, undecided, &NoUsableKeyError{JID: to, Reasons: why}
	}
	return keys, undecided, nil
}

// selfKeys are the account's keys to encrypt to as well: the signing key and
// every other device's announced, usable key that is stored.
func (c *Client) selfKeys(ctx context.Context, signer pgp.Fingerprint) []pgp.Fingerprint {
	out := []pgp.Fingerprint{signer}
	me := c.JID()
	list, _, fetched, err := c.Store.Announcements(ctx, me.String())
	missing := errors.Is(err, store.ErrNotFound) || c.now().Sub(fetched) > c.maxKeyAge()
	for _, a := range list {
		if f, perr := pgp.ParseFingerprint(a.Fingerprint); perr == nil {
			if _, kerr := c.Backend.Key(ctx, f); kerr != nil {
				missing = true
			}
		}
	}
	if missing {
		// Other devices' keys: fetch them so they can read what we send.
		if _, ferr := c.Fetch(ctx, me); ferr == nil {
			list, _, _, err = c.Store.Announcements(ctx, me.String())
		}
	}
	if err != nil {
		return out // nothing announced (yet): the signing key alone
	}
	for _, a := range list {
		f, err := pgp.ParseFingerprint(a.Fingerprint)
		if err != nil || f == signer {
			continue
		}
		if k, err := c.Backend.Key(ctx, f); err == nil && k.Usable(c.now()) == nil {
			out = append(out, f)
		}
	}
	return out
}

// received is what the session layer knows about an incoming message.
type received struct {
	raw       []byte    // the <message/> with the <openpgp/>
	sent      bool      // a carbon of a message the account sent
	delivered time.Time // zero: the message's own delay stamp, or now
	stanzaID  string
	sender    jid.JID // a group message's real sender, as the room said when it arrived (muc.go)
}

// Receive reads one incoming OX message stanza (raw XML) as it arrived live:
// decrypts it, makes every receiver check, and returns the result; a
// message that cannot be read yet is kept (Pending). Library users with
// their own stanza handling call it; Serve calls it for them.
func (c *Client) Receive(ctx context.Context, raw []byte) (*Message, error) {
	return c.receive(ctx, received{raw: raw})
}

func (c *Client) receive(ctx context.Context, r received) (*Message, error) {
	m, err := element.ParseMessage(r.raw)
	if err != nil {
		return nil, err
	}
	if len(m.OpenPGP) == 0 {
		return nil, errors.New("ox: not an OX message")
	}
	me := c.JID()
	out := &Message{From: m.From, To: m.To, Type: m.Type, ID: m.ID, StanzaID: r.stanzaID, Sent: r.sent}
	if out.StanzaID == "" {
		out.StanzaID = stanzaIDBy(r.raw, me)
	}
	out.Delivered = r.delivered
	if out.Delivered.IsZero() {
		out.Delivered = m.Delay
	}
	if out.Delivered.IsZero() {
		out.Delivered = c.now()
	}
	sender, recipient := m.From.Bare(), me
	if m.From.Equal(jid.JID{}) {
		sender = me // mellium blanks a from equal to the own bare JID
	}
	if r.sent {
		sender, recipient = me, m.To.Bare()
	}
	if m.Type == "groupchat" {
		g, err := c.groupSender(r, m, out) // muc.go
		if err != nil {
			out.Err = err
			return c.deliver(ctx, out)
		}
		sender, recipient = g, out.Room
	}
	o, err := c.Backend.Open(ctx, m.OpenPGP)
	if err != nil {
		out.Err = err
		return c.deliver(ctx, out)
	}
	var se *pgp.SignatureError
	if errors.As(o.SignatureErr, &se) && se.Unknown {
		// A sender's new key: fetch and try again (XEP-0373 §3.2).
		if _, ferr := c.Fetch(ctx, sender); ferr == nil {
			if o2, err := c.Backend.Open(ctx, m.OpenPGP); err == nil {
				o = o2
			}
		}
		if errors.As(o.SignatureErr, &se) && se.Unknown {
			if _, err := c.Store.AddPending(ctx, store.Pending{Sender: sender.String(), Stanza: r.raw, Received: out.Delivered, Reason: o.SignatureErr.Error()}); err != nil {
				return nil, err
			}
			out.Pending, out.Err = true, fmt.Errorf("%w (%v)", ErrPending, o.SignatureErr)
			return out, nil
		}
	}
	v, err := check.Message(check.Input{Opened: o, Sender: sender, Recipient: recipient, Delivered: out.Delivered}, check.Options{
		Announced: func(j jid.JID, f pgp.Fingerprint) bool { return c.announcedOrAccepted(ctx, j, f) },
	})
	if err != nil {
		out.Err = err
		return c.deliver(ctx, out)
	}
	st, err := c.TrustState(ctx, sender, v.Signer.Fingerprint)
	if err != nil {
		return nil, err
	}
	out.Trust = st
	if st == trust.Rejected {
		out.Err = &TrustError{Sender: sender, Signer: v.Signer.Fingerprint}
		out.Signer = v.Signer.Fingerprint
		return c.deliver(ctx, out)
	}
	out.Time = v.Content.Time
	out.Body, _ = v.Content.Body()
	out.Payload = v.Content.Payload
	out.Signer = v.Signer.Fingerprint
	out.Warnings = v.Warnings
	return c.deliver(ctx, out)
}

// deliver records a final verdict so that the same message coming again
// (offline store, archive, carbons) is not shown twice; nil means a repeat.
func (c *Client) deliver(ctx context.Context, m *Message) (*Message, error) {
	if m.StanzaID == "" {
		return m, nil
	}
	first, err := c.Store.MarkDelivered(ctx, m.StanzaID, c.now())
	if err != nil {
		return nil, err
	}
	if !first {
		return nil, nil
	}
	return m, nil
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
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(list) == 0) {
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
		if err := c.Store.DeletePending(ctx, p.ID); err != nil {
			return out, err
		}
		s, _ := jid.Parse(p.Sender) // a group message's real sender (muc.go)
		msg, err := c.receive(ctx, received{raw: p.Stanza, delivered: p.Received, sender: s})
		if err != nil {
			continue
		}
		if msg != nil && !msg.Pending {
			out = append(out, msg)
		}
	}
	return out, nil
}

// stanzaIDBy finds the XEP-0359 <stanza-id/> that by (the account's
// server-side archive) put on the message; others could be forged by the
// sender.
func stanzaIDBy(raw []byte, by jid.JID) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Space == "urn:xmpp:sid:0" && t.Name.Local == "stanza-id" {
				var id, b string
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "id":
						id = a.Value
					case "by":
						b = a.Value
					}
				}
				if bj, err := jid.Parse(b); err == nil && bj.Equal(by.Bare()) {
					return id
				}
			}
		case xml.EndElement:
			depth--
		}
	}
}
