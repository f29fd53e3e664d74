package ox

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

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
	From, To jid.JID
	Type     string // "chat", "" (go-sendxmpp and xmppc send none), "groupchat"
	ID       string // the sender's id
	StanzaID string // the server's XEP-0359 stanza-id, if any
	Sent     bool   // a copy of a message the account sent (from another device, or this one's archive copy)
	// Origin says how it came: live, offline, carbon, archive, room-history.
	Origin    Origin
	Delivered time.Time
	// SignedAt is the signature's creation time.
	SignedAt time.Time
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
	// Validity is the signing key's validity in the user's GnuPG trust
	// model (pgp.KeyInfo.Validity), from which Trust comes unless the user
	// decided in ox; empty with the native backend.
	Validity string
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
	// Certification is set when the payload holds a certification of one
	// of the account's keys (the web of trust, wot.go): an offer to accept
	// or decline, or one that was refused (its Err says why).
	Certification *CertificationOffer
	// Seq is the message's line in the journal, when the Client keeps one
	// (Client.Journal); 0 otherwise.
	Seq int64
}

// DefaultMaxStanzaSize is the stanza size ox stays under unless told
// otherwise: Prosody's default c2s_stanza_size_limit. A server closes the
// stream on a larger stanza, and the message would be lost.
const DefaultMaxStanzaSize = 256 << 10

// StanzaTooLargeError: the encrypted message would exceed the server's
// stanza size limit (many recipient keys, or a long text); nothing was sent.
type StanzaTooLargeError struct {
	To          jid.JID
	Size, Limit int
	Keys        int
}

func (e *StanzaTooLargeError) Error() string {
	return fmt.Sprintf("ox: the message to %s would be a %d-byte stanza (encrypted to %d keys), over the server's limit of %d bytes; nothing was sent", e.To, e.Size, e.Keys, e.Limit)
}

// stanzaOverhead bounds what the <message/> adds around the Base64: the
// fallback body, EME, the store hint, addresses and an id.
const stanzaOverhead = 512

func (c *Client) checkStanzaSize(to jid.JID, ct []byte, keys int) error {
	limit := c.MaxStanzaSize
	if limit == 0 {
		limit = DefaultMaxStanzaSize
	}
	size := base64.StdEncoding.EncodedLen(len(ct)) + len(Fallback) + stanzaOverhead
	if size > limit {
		return &StanzaTooLargeError{To: to, Size: size, Limit: limit, Keys: keys}
	}
	return nil
}

// NoUsableKeyError: a recipient has no key that a message can be encrypted
// to. Reasons says why for each key, or that none is published.
type NoUsableKeyError struct {
	JID     jid.JID
	Reasons []string
	// Undecided are the usable keys left out only because they are not
	// trusted (undecided in ox, or not valid in the user's GnuPG).
	Undecided []pgp.Fingerprint
	// NotValidInGnuPG are those of Undecided that are undecided because
	// the user's GnuPG does not deem them valid (certify them there, or
	// verify them in ox); NeverValidInGnuPG are keys GnuPG deems never
	// valid (left out unless the user verifies them in ox).
	NotValidInGnuPG, NeverValidInGnuPG []pgp.Fingerprint
	// None: working offline (no session), no key of the recipient is
	// stored at all.
	None bool
}

func (e *NoUsableKeyError) Error() string {
	if e.None {
		return fmt.Sprintf("ox: no key for %s: %s", e.JID, strings.Join(e.Reasons, "; "))
	}
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
	// has not decided to trust them (or, with GnuPG, because GnuPG does not
	// deem them valid): those devices cannot read it.
	Undecided []pgp.Fingerprint
	// Unannounced are keys with the recipient's xmpp: user ID that are
	// stored (in the GnuPG keyring, say) but that the recipient does not
	// announce over PEP: they are not encrypted to.
	Unannounced []pgp.Fingerprint
}

// Send sends body to `to` as an XEP-0374 chat message: a <signcrypt/>
// encrypted to every usable announced key of the recipient and of the
// account, with a plaintext fallback, EME (XEP-0380) and a store hint
// (XEP-0334). It returns once the server has taken the stanza. There is no
// plaintext fallback when no key is usable: that is a *NoUsableKeyError.
func (c *Client) Send(ctx context.Context, to jid.JID, body string) (*SendReport, error) {
	return c.SendPayload(ctx, to, element.BodyPayload(body))
}

// SendPayload is Send with the payload given whole: the content of the
// <signcrypt/>'s <payload/>, an XML fragment (element.BodyPayload and more:
// a <body/> for clients that show no other element should be in it).
func (c *Client) SendPayload(ctx context.Context, to jid.JID, payload []byte) (*SendReport, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	to = to.Bare()
	signer, err := c.signingKey(ctx) // first: without a key of our own, nothing else matters
	if err != nil {
		return nil, c.NotSent(ctx, to, err)
	}
	res, err := c.resolveKeys(ctx, to)
	if err != nil {
		return nil, c.NotSent(ctx, to, err)
	}
	sealed, err := c.seal(ctx, signer, []jid.JID{to}, res.keys, payload)
	if err != nil {
		return nil, c.NotSent(ctx, to, err)
	}
	id := NewID()
	msg := stanza.Message{To: to, Type: stanza.ChatMessage, ID: id}.Wrap(MessagePayload(sealed.OpenPGP))
	if err := c.Session.Send(ctx, msg); err != nil {
		// Not written whole: what reached the server is part of a stanza,
		// which it never reads as one, and ox keeps no copy of it to send
		// again. Sending it again is safe.
		return nil, fmt.Errorf("%w: %w", &NotSentError{To: to}, c.failure(ctx, err))
	}
	// Written whole: where, should the server not confirm it (Confirm).
	uo := &UnknownOutcomeError{To: to, ID: id, Report: &SendReport{ID: id, Recipients: res.keys, Self: sealed.Self, Undecided: res.undecided, Unannounced: res.unannounced}}
	if sm := sessionSM(c.Session); sm != nil {
		uo.conn = sm
		uo.stream, uo.seq = sm.written()
	}
	// A ping answered means the server has read everything before it.
	if err := ping.Send(ctx, c.Session, c.JID().Domain()); err != nil {
		uo.Err = c.failure(ctx, err)
		return nil, uo
	}
	return uo.Report, nil
}

// Sealed is a message encrypted on the way out: the one path of Send, room
// messages (package muc) and Encrypt.
type Sealed struct {
	// OpenPGP is the OpenPGP message (binary) for the <openpgp/> element.
	OpenPGP []byte
	Signer  pgp.Fingerprint
	// Keys are all the keys it is encrypted to: the recipients' and Self.
	Keys []pgp.Fingerprint
	// Self are the account's own keys among them (XEP-0373 §3.1: to self
	// too, so the account's other devices and the archive can read it).
	Self []pgp.Fingerprint
}

// Seal makes a <signcrypt/> with the content's <to/> set to, signed by the
// account's key and encrypted to keys and to the account's own keys, within
// the server's stanza size limit. keys are resolved by the caller
// (resolveKeys, UsableKeys): Seal encrypts to nothing else.
func (c *Client) Seal(ctx context.Context, to []jid.JID, keys []pgp.Fingerprint, payload []byte) (*Sealed, error) {
	signer, err := c.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	return c.seal(ctx, signer, to, keys, payload)
}

func (c *Client) seal(ctx context.Context, signer pgp.Fingerprint, to []jid.JID, keys []pgp.Fingerprint, payload []byte) (*Sealed, error) {
	self := c.selfKeys(ctx, signer)
	all := append(append([]pgp.Fingerprint{}, keys...), self...)
	slices.SortStableFunc(all, func(a, b pgp.Fingerprint) int { return strings.Compare(a.String(), b.String()) })
	all = slices.Compact(all)
	content, err := element.NewContent(element.KindSigncrypt, to, c.now(), payload)
	if err != nil {
		return nil, err
	}
	plain, err := content.Marshal()
	if err != nil {
		return nil, err
	}
	ct, err := c.Backend.Seal(ctx, plain, pgp.SealOptions{Signer: signer, Recipients: all})
	if err != nil {
		return nil, err
	}
	if len(to) > 0 {
		if err := c.checkStanzaSize(to[0], ct, len(all)); err != nil {
			return nil, err
		}
	}
	return &Sealed{OpenPGP: ct, Signer: signer, Keys: all, Self: self}, nil
}

// MessagePayload is what an OX message carries: the plaintext fallback
// <body/> (XEP-0374 §3.2), the <openpgp/> with ct, EME (XEP-0380) and a
// store hint (XEP-0334).
func MessagePayload(ct []byte) xml.TokenReader {
	return xmlstream.MultiReader(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(Fallback)), xml.StartElement{Name: xml.Name{Local: "body"}}),
		xmlstream.Wrap(xmlstream.Token(xml.CharData(element.MarshalOpenPGPText(ct))), xml.StartElement{Name: xml.Name{Space: element.NS, Local: "openpgp"}}),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: element.NSEME, Local: "encryption"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "namespace"}, Value: element.NS},
			{Name: xml.Name{Local: "name"}, Value: "OpenPGP for XMPP"},
		}}),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: element.NSHints, Local: "store"}}),
	)
}

// NewID is a random stanza id.
func NewID() string { return randomID() }

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
	var lacking, own []pgp.Fingerprint
	for _, k := range ks {
		if !k.CanSign(c.now()) {
			continue
		}
		if k.HasUserID(me) {
			own = append(own, k.Fingerprint)
			continue
		}
		lacking = append(lacking, k.Fingerprint)
	}
	if len(own) > 1 {
		// A key being rotated out still reads, but its successor signs.
		for _, f := range own {
			if !c.retiring(ctx, f) {
				return f, nil
			}
		}
	}
	if len(own) > 0 {
		return own[0], nil
	}
	if len(lacking) > 0 {
		return pgp.Fingerprint{}, &NoUserIDError{Account: me, Keys: lacking}
	}
	return pgp.Fingerprint{}, &NoSigningKeyError{Account: me}
}

// NoSigningKeyError: the account has no secret key that can sign now
// (none, or all expired or revoked). It matches pgp.ErrNoSecretKey.
type NoSigningKeyError struct{ Account jid.JID }

func (e *NoSigningKeyError) Error() string {
	return fmt.Sprintf("ox: account %s has no usable key (none, or all expired or revoked)", e.Account)
}

func (e *NoSigningKeyError) Unwrap() error { return pgp.ErrNoSecretKey }

// NoUserIDError: the account has no usable key with its user ID
// "xmpp:<account>", but secret keys without it (a GnuPG user's keys, made
// for e-mail). ox does not use them silently: contacts would refuse what
// they sign (XEP-0373 §7.3). It matches pgp.ErrNoSecretKey.
type NoUserIDError struct {
	Account jid.JID
	Keys    []pgp.Fingerprint // the usable secret keys without the user ID, newest first
}

func (e *NoUserIDError) Error() string {
	s := fmt.Sprintf("ox: account %s has no usable key with the user ID %s: ", e.Account, pgp.UserID(e.Account))
	if len(e.Keys) == 1 {
		s += "your secret key " + e.Keys[0].String() + " lacks it"
	} else {
		ids := make([]string, len(e.Keys))
		for i, k := range e.Keys {
			ids[i] = k.String()
		}
		s += "your secret keys " + strings.Join(ids, ", ") + " lack it"
	}
	return s
}

func (e *NoUserIDError) Unwrap() error { return pgp.ErrNoSecretKey }

// UsableKeys resolves a recipient's keys that a message may go to: those
// it announces (fetched when unknown or stale), or for a contact that
// announces nothing the keys the user imported for it, that can be
// encrypted to now and are trusted (blindly or verified).
func (c *Client) UsableKeys(ctx context.Context, to jid.JID) ([]pgp.Fingerprint, error) {
	res, err := c.resolveKeys(ctx, to)
	return res.keys, err
}

// resolved are a recipient's keys: those to encrypt to, and those left out
// that the sender is told about: usable but undecided (trust.Undecided, or
// not valid in GnuPG), and stored but not announced.
type resolved struct {
	keys, undecided, unannounced []pgp.Fingerprint
	notValid, neverValid         []pgp.Fingerprint // in the user's GnuPG
}

// resolveKeys is usableKeys, also naming the keys left out that the sender
// is told about.
func (c *Client) resolveKeys(ctx context.Context, to jid.JID) (res resolved, err error) {
	_, _, fetched, err := c.Store.Announcements(ctx, to.String())
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.now().Sub(fetched) > c.maxKeyAge()) {
		_, ferr := c.fetch(ctx, to)
		if ferr != nil && !errors.Is(ferr, ErrNoKeysPublished) && !errors.Is(ferr, ErrOffline) {
			return res, ferr
		}
	} else if err != nil {
		return res, err
	}
	announced, _, _, aerr := c.Store.Announcements(ctx, to.String())
	isAnnounced := map[string]bool{}
	for _, a := range announced {
		isAnnounced[a.Fingerprint] = true
	}
	ks, err := c.Backend.Lookup(ctx, to)
	if err != nil {
		return res, err
	}
	var why []string
	for _, k := range ks {
		f := k.Fingerprint.String()
		if aerr == nil && len(announced) > 0 && !isAnnounced[f] {
			res.unannounced = append(res.unannounced, k.Fingerprint)
			why = append(why, "key "+f+" is stored but not announced by "+to.String()+", so it is not used")
			continue
		}
		if err := k.Usable(c.now()); err != nil {
			why = append(why, strings.TrimPrefix(err.Error(), "pgp: "))
			continue
		}
		st, fromGnuPG, err := c.trustIn(ctx, to, &k)
		if err != nil {
			return res, err
		}
		switch {
		case st == trust.Rejected && fromGnuPG:
			res.neverValid = append(res.neverValid, k.Fingerprint)
			why = append(why, "key "+f+" is never valid in your GnuPG (validity "+k.Validity+")")
			continue
		case st == trust.Rejected:
			why = append(why, "key "+f+" is rejected by you")
			continue
		case st == trust.Undecided && fromGnuPG:
			res.undecided = append(res.undecided, k.Fingerprint)
			what := "is not valid in your GnuPG (validity " + k.Validity + ")"
			if k.Validity == pgp.ValidityMarginal {
				what = "is only marginally valid in your GnuPG, and your policy trusts only verified keys"
			}
			res.notValid = append(res.notValid, k.Fingerprint)
			why = append(why, "key "+f+" "+what)
			continue
		case st == trust.Undecided:
			res.undecided = append(res.undecided, k.Fingerprint)
			why = append(why, "key "+f+" is undecided")
			continue
		}
		res.keys = append(res.keys, k.Fingerprint)
	}
	if len(res.keys) == 0 {
		if len(ks) == 0 {
			why = []string{"no keys published (and none imported)"}
			if c.Session == nil {
				why = []string{"no certificate with the user ID " + pgp.UserID(to) + " is stored"}
			}
		}
		return res, &NoUsableKeyError{JID: to, Reasons: why, Undecided: res.undecided, NotValidInGnuPG: res.notValid, NeverValidInGnuPG: res.neverValid, None: len(ks) == 0 && c.Session == nil}
	}
	return res, nil
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
		if _, ferr := c.fetch(ctx, me); ferr == nil {
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

// KeysResult is UsableKeys' answer for one recipient of UsableKeysAll.
type KeysResult struct {
	JID  jid.JID
	Keys []pgp.Fingerprint
	Err  error
}

// MaxFetchesInFlight bounds how many recipients UsableKeysAll resolves at
// once: their key fetches go out together instead of one round trip after
// another.
const MaxFetchesInFlight = 128

// UsableKeysAll is UsableKeys for many recipients, with their key fetches
// pipelined (at most MaxFetchesInFlight under way): coming online with, or
// writing to a room of, a hundred contacts costs a few round trips, not a
// hundred. The results are in the order of jids.
func (c *Client) UsableKeysAll(ctx context.Context, jids []jid.JID) []KeysResult {
	// One resolution per account, however many times it is named.
	first := map[string]int{}
	var uniq []jid.JID
	for _, j := range jids {
		if _, ok := first[j.Bare().String()]; !ok {
			first[j.Bare().String()] = len(uniq)
			uniq = append(uniq, j)
		}
	}
	res := make([]KeysResult, len(uniq))
	sem := make(chan struct{}, MaxFetchesInFlight)
	var wg sync.WaitGroup
	for i, j := range uniq {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res[i].Keys, res[i].Err = c.UsableKeys(ctx, j)
		}()
	}
	wg.Wait()
	out := make([]KeysResult, len(jids))
	for i, j := range jids {
		out[i] = res[first[j.Bare().String()]]
		out[i].JID = j
	}
	return out
}
