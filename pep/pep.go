package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Node configuration fields (XEP-0060 §16.4.4) that OX uses.
const (
	AccessModel     = "pubsub#access_model"
	MaxItems        = "pubsub#max_items"
	DeliverPayloads = "pubsub#deliver_payloads"
	PersistItems    = "pubsub#persist_items"
	SendLastItem    = "pubsub#send_last_published_item"
)

// Item is a pubsub item.
type Item struct {
	ID string
	// Payload is the item's child element as self-contained raw XML (its
	// namespace declared on it), or nil for an item without payload (an
	// id-only notification).
	Payload []byte
}

// Options are pubsub node configuration fields and their values, e.g.
// {"pubsub#access_model": "open", "pubsub#max_items": "1"}. Booleans may
// be written "true"/"false" or "1"/"0"; servers answer either.
type Options map[string]string

// keys returns the fields sorted, pubsub#access_model first: the one that
// matters most when not all can be applied.
func (o Options) keys() []string {
	ks := make([]string, 0, len(o))
	for k := range o {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == AccessModel:
			return -1
		case b == AccessModel:
			return 1
		}
		return strings.Compare(a, b)
	})
	return ks
}

func (o Options) clone() Options {
	if o == nil {
		return nil
	}
	c := make(Options, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// sameValue compares option values, booleans by meaning.
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	ba, oka := parseBool(a)
	bb, okb := parseBool(b)
	return oka && okb && ba == bb
}

func parseBool(s string) (bool, bool) {
	switch strings.TrimSpace(s) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// PublishResult says how Publish went.
type PublishResult struct {
	// ItemID is the id the server used: the one asked for, or the one it
	// assigned when none was given.
	ItemID string
	// Applied are the requested options in force afterwards as far as we
	// know: all of them when the server accepted the publish-options (a
	// server may accept an option it does not know and ignore it: Prosody
	// 0.12 does), else as read back from the node configuration; nil when
	// no options were requested.
	Applied Options
	// Fallback is "" when the publish-options were accepted; otherwise it
	// says what was done instead, e.g. "configured the node (the server
	// refused the publish-options: conflict/precondition-not-met ...)".
	Fallback string
}

// Publish publishes payload, one whole element as raw XML, as item itemID
// (empty: the server picks an id) of node on the account's own PEP service,
// with opts as publish-options (XEP-0060 §7.1.5).
//
// When the server refuses the publish-options (precondition-not-met, which
// Prosody sends as conflict when an existing node is configured otherwise;
// also conflict, not-acceptable, bad-request, feature-not-implemented or
// policy-violation), Publish falls back instead of failing: it configures
// the node with the options (creating it configured when it does not exist
// yet), leaving out options the server refuses one by one, access model
// first; if the node cannot be configured at all it tries the access model
// alone as a publish-option; then it publishes without publish-options and
// reads the node configuration back to report what is in force. An
// optional option never makes the whole publish fail.
//
// The access model is the exception: Publish never publishes an item into
// a node more open than asked. When "open" was asked, any model the server
// keeps is at most as open, and Publish goes on; for any other model
// (e.g. "whitelist" for the secret key) that it cannot apply, it returns an
// error wrapping ErrAccessModel and publishes nothing.
func Publish(ctx context.Context, s *xmpp.Session, node, itemID string, payload []byte, opts Options) (PublishResult, error) {
	if node == "" {
		return PublishResult{}, errors.New("pep: publish: empty node name")
	}
	toks, err := payloadTokens(payload, NSPubSub)
	if err != nil {
		return PublishResult{}, fmt.Errorf("pep: publish to %s: %w", node, err)
	}
	return publishFallback(ctx, sessionService{s: s, payload: toks}, node, itemID, opts)
}

// service is what Publish needs of a PEP service; sessionService talks to
// a real one, tests use fakes to cover what Prosody never does.
type service interface {
	publish(ctx context.Context, node, itemID string, opts Options) (string, error)
	create(ctx context.Context, node string, opts Options) error
	configure(ctx context.Context, node string, opts Options) error
	config(ctx context.Context, node string) (Options, error)
}

type sessionService struct {
	s       *xmpp.Session
	payload []xml.Token
}

func (ss sessionService) publish(ctx context.Context, node, itemID string, opts Options) (string, error) {
	return publish(ctx, ss.s, node, itemID, ss.payload, opts)
}

func (ss sessionService) create(ctx context.Context, node string, opts Options) error {
	return create(ctx, ss.s, node, opts)
}

func (ss sessionService) configure(ctx context.Context, node string, opts Options) error {
	return Configure(ctx, ss.s, node, opts)
}

func (ss sessionService) config(ctx context.Context, node string) (Options, error) {
	return Config(ctx, ss.s, node)
}

// publishFallback is Publish once the payload is checked.
func publishFallback(ctx context.Context, srv service, node, itemID string, opts Options) (PublishResult, error) {
	if len(opts) == 0 {
		id, err := srv.publish(ctx, node, itemID, nil)
		return PublishResult{ItemID: id}, err
	}
	id, err := srv.publish(ctx, node, itemID, opts)
	if err == nil {
		return PublishResult{ItemID: id, Applied: opts.clone()}, nil
	}
	if !optionsRefused(err) {
		return PublishResult{}, err
	}
	refusal := err

	var notes []string
	applied, refused, cfgErr := ensureConfig(ctx, srv, node, opts)
	switch {
	case ctx.Err() != nil:
		return PublishResult{}, fmt.Errorf("pep: publish to %s: %w", node, ctx.Err())
	case cfgErr == nil && len(refused) == 0:
		notes = append(notes, "configured the node")
	case cfgErr == nil:
		notes = append(notes, "configured the node without "+strings.Join(refused, ", ")+" (refused)")
	default:
		notes = append(notes, "could not configure the node ("+errText(cfgErr)+")")
	}

	published := false
	if cfgErr != nil {
		// No configuration possible: try the access model alone as a
		// publish-option, the one that matters.
		if am, ok := opts[AccessModel]; ok && len(opts) > 1 {
			one := Options{AccessModel: am}
			id, err = srv.publish(ctx, node, itemID, one)
			switch {
			case err == nil:
				published = true
				applied = one
				notes = append(notes, "published with only "+AccessModel+" as publish-option")
			case !optionsRefused(err):
				return PublishResult{}, err
			}
		}
	}
	if !published {
		if am, ok := opts[AccessModel]; ok && am != "open" {
			if _, done := applied[AccessModel]; !done {
				cfg, err := srv.config(ctx, node)
				if err != nil {
					return PublishResult{}, fmt.Errorf("%w %q for %s (%s), and its configuration cannot be read (%s); nothing published",
						ErrAccessModel, am, node, errText(refusal), errText(err))
				}
				if !sameValue(cfg[AccessModel], am) {
					return PublishResult{}, fmt.Errorf("%w %q for %s (%s): it stays %q; nothing published",
						ErrAccessModel, am, node, errText(refusal), cfg[AccessModel])
				}
			}
		}
		id, err = srv.publish(ctx, node, itemID, nil)
		if err != nil {
			return PublishResult{}, err
		}
		notes = append(notes, "published without publish-options")
	}

	res := PublishResult{ItemID: id, Applied: applied}
	if cfg, err := srv.config(ctx, node); err == nil {
		res.Applied = Options{}
		for k, want := range opts {
			if got, ok := cfg[k]; ok {
				if sameValue(got, want) {
					got = want
				}
				res.Applied[k] = got
			}
		}
	}
	res.Fallback = strings.Join(notes, "; ") + " (the server refused the publish-options: " + errText(refusal) + ")"
	return res, nil
}

// errText is the server's part of an error: the stanza error if there is
// one, else the whole message.
func errText(err error) string {
	var se *StanzaError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

// ensureConfig makes node's configuration carry opts, creating the node
// configured when it does not exist. It returns the options applied and
// those the server refused; err is set when the node could not be
// configured at all (or created).
func ensureConfig(ctx context.Context, srv service, node string, opts Options) (applied Options, refused []string, err error) {
	err = srv.configure(ctx, node, opts)
	if err == nil {
		return opts.clone(), nil, nil
	}
	if errors.Is(err, ErrNotFound) {
		// No such node: create it with as much configuration as the
		// server takes, access model first.
		err = srv.create(ctx, node, opts)
		if err == nil {
			return opts.clone(), nil, nil
		}
		if !configRefused(err) {
			return nil, nil, err
		}
		created := false
		if am, ok := opts[AccessModel]; ok && len(opts) > 1 {
			if err = srv.create(ctx, node, Options{AccessModel: am}); err == nil {
				created = true
			} else if !configRefused(err) {
				return nil, nil, err
			}
		}
		if !created {
			if err = srv.create(ctx, node, nil); err != nil {
				return nil, nil, err
			}
		}
	} else if !configRefused(err) {
		return nil, nil, err
	}
	// Add the options one by one, access model first, leaving out those
	// the server refuses.
	applied = Options{}
	for _, k := range opts.keys() {
		trial := applied.clone()
		trial[k] = opts[k]
		err := srv.configure(ctx, node, trial)
		switch {
		case err == nil:
			applied = trial
		case configRefused(err):
			refused = append(refused, k)
		default:
			return applied, refused, err
		}
	}
	return applied, refused, nil
}

// publish sends one publish request and returns the item id.
func publish(ctx context.Context, s *xmpp.Session, node, itemID string, payload []xml.Token, opts Options) (string, error) {
	var itemAttrs []xml.Attr
	if itemID != "" {
		itemAttrs = []xml.Attr{attr("id", itemID)}
	}
	inner := elem("", "publish", []xml.Attr{attr("node", node)}, elem("", "item", itemAttrs, payload...)...)
	if len(opts) > 0 {
		inner = append(inner, elem("", "publish-options", nil, formTokens(formPublishOptions, opts)...)...)
	}
	resp, err := exchange(ctx, s, stanza.SetIQ, jid.JID{}, elem(NSPubSub, "pubsub", nil, inner...))
	if err != nil {
		return "", wrap("publish to "+node, err)
	}
	if id := publishedID(resp); id != "" {
		return id, nil
	}
	return itemID, nil
}

// publishedID reads <pubsub><publish><item id/></publish></pubsub> from a
// publish result; "" when the server sent an empty result.
func publishedID(resp []byte) string {
	d := xml.NewDecoder(bytes.NewReader(resp))
	if _, err := rootStart(d); err != nil {
		return ""
	}
	for _, want := range []string{"pubsub", "publish", "item"} {
		for {
			c, err := nextChild(d)
			if err != nil {
				return ""
			}
			if c.Name.Local == want {
				if want == "item" {
					return attrValue(c.Attr, "id")
				}
				break
			}
			if d.Skip() != nil {
				return ""
			}
		}
	}
	return ""
}

// create creates node with configuration opts (none when nil).
func create(ctx context.Context, s *xmpp.Session, node string, opts Options) error {
	inner := elem("", "create", []xml.Attr{attr("node", node)})
	if len(opts) > 0 {
		inner = append(inner, elem("", "configure", nil, formTokens(formNodeConfig, opts)...)...)
	}
	_, err := exchange(ctx, s, stanza.SetIQ, jid.JID{}, elem(NSPubSub, "pubsub", nil, inner...))
	return wrap("create node "+node, err)
}

// wrap prefixes err with "pep: " and what was done; nil stays nil.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pep: %s: %w", what, err)
}

// Items fetches the items of node at owner, a bare JID (the zero JID: the
// own account), XEP-0060 §6.5. maxItems > 0 asks for the newest maxItems
// only (a server may ignore it: pick with Newest); ids asks for those items
// only (§6.5.8; maxItems is then not sent), and ids the node lacks are
// simply absent from the result (Prosody) or make the request fail with
// ErrNotFound (other servers).
//
// Prosody 0.12 returns items oldest first, the newest last; with max_items
// it returns the newest maxItems, still oldest first; items asked for by id
// come in the order asked.
//
// Errors: ErrNotFound when there is no such node, ErrForbidden when the
// requester may not read it; on a contact's node treat both as "nothing
// readable" (see ErrNotFound). ErrUnsupported when the server has no PEP
// or the node keeps no items.
func Items(ctx context.Context, s *xmpp.Session, owner jid.JID, node string, maxItems int, ids ...string) ([]Item, error) {
	what := "items of " + node
	if !owner.Equal(jid.JID{}) {
		owner = owner.Bare()
		what += " at " + owner.String()
	}
	attrs := []xml.Attr{attr("node", node)}
	var inner []xml.Token
	for _, id := range ids {
		inner = append(inner, elem("", "item", []xml.Attr{attr("id", id)})...)
	}
	if maxItems > 0 && len(ids) == 0 {
		attrs = append(attrs, attr("max_items", strconv.Itoa(maxItems)))
	}
	resp, err := exchange(ctx, s, stanza.GetIQ, owner, elem(NSPubSub, "pubsub", nil, elem("", "items", attrs, inner...)...))
	if err != nil {
		return nil, wrap(what, err)
	}
	items, err := parseItems(resp)
	if err == nil && len(ids) > 1 {
		items = inOrder(items, ids)
	}
	return items, wrap(what, err)
}

// inOrder puts items asked for by id in the order asked: Prosody answers
// in that order, ejabberd 23.01 in the node's order.
func inOrder(items []Item, ids []string) []Item {
	rank := make(map[string]int, len(ids))
	for i, id := range ids {
		if _, dup := rank[id]; !dup {
			rank[id] = i
		}
	}
	slices.SortStableFunc(items, func(a, b Item) int {
		ra, oka := rank[a.ID]
		rb, okb := rank[b.ID]
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		}
		return ra - rb
	})
	return items
}

// parseItems reads the items of an items result (XEP-0060 §6.5), in
// document order. An empty result (no <pubsub/>) is no items.
func parseItems(resp []byte) ([]Item, error) {
	d := xml.NewDecoder(bytes.NewReader(resp))
	if _, err := rootStart(d); err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	items := []Item{}
	for _, want := range []string{"pubsub", "items"} {
		for {
			c, err := nextChild(d)
			if err == io.EOF {
				return items, nil
			}
			if err != nil {
				return nil, fmt.Errorf("malformed response: %w", err)
			}
			if c.Name.Local == want && (c.Name.Space == NSPubSub || want == "items") {
				break
			}
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("malformed response: %w", err)
			}
		}
	}
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		if c.Name.Local != "item" {
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("malformed response: %w", err)
			}
			continue
		}
		it, err := parseItem(d, c)
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		items = append(items, it)
	}
}

// parseItem reads an <item/> whose start tag was just read: its id and its
// first child element as the payload.
func parseItem(d *xml.Decoder, start xml.StartElement) (Item, error) {
	it := Item{ID: attrValue(start.Attr, "id")}
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			return it, nil
		}
		if err != nil {
			return it, err
		}
		if it.Payload != nil {
			if err := d.Skip(); err != nil {
				return it, err
			}
			continue
		}
		if it.Payload, err = subtree(d, c); err != nil {
			return it, err
		}
	}
}

// Newest picks the item to use when several come back (XEP-0373 §4.4: "only
// the public keys found in the most recent item MUST be used"), e.g. from a
// server that ignores max_items: when every id is an XEP-0082 date-time
// (the ids XEP-0373 recommends) the latest of them, the last one on a tie;
// otherwise the last item in document order, which is the newest on
// Prosody 0.12 (it returns items oldest first; checked by the integration
// test) and on servers that follow XEP-0060's chronological order. ok is
// false when items is empty.
func Newest(items []Item) (Item, bool) {
	if len(items) == 0 {
		return Item{}, false
	}
	best := -1
	var bestT time.Time
	for i, it := range items {
		t, ok := parseDateTime(it.ID)
		if !ok {
			return items[len(items)-1], true
		}
		if best < 0 || !t.Before(bestT) {
			best, bestT = i, t
		}
	}
	return items[best], true
}

// parseDateTime parses an XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD),
// tolerating what clients write in item ids: "+0000"-style offsets and
// surrounding space.
func parseDateTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[10] != 'T' {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Configure sets node's configuration fields opts (XEP-0060 §8.2.4); fields
// not in opts keep their values. The node must exist.
func Configure(ctx context.Context, s *xmpp.Session, node string, opts Options) error {
	_, err := exchange(ctx, s, stanza.SetIQ, jid.JID{}, elem(NSPubSubOwner, "pubsub", nil,
		elem("", "configure", []xml.Attr{attr("node", node)}, formTokens(formNodeConfig, opts)...)...))
	return wrap("configure "+node, err)
}

// Config returns node's current configuration (XEP-0060 §8.2): the first
// value of each field that has one, FORM_TYPE left out. Values are as the
// server writes them: Prosody writes booleans as "1" and "0".
func Config(ctx context.Context, s *xmpp.Session, node string) (Options, error) {
	resp, err := exchange(ctx, s, stanza.GetIQ, jid.JID{}, elem(NSPubSubOwner, "pubsub", nil,
		elem("", "configure", []xml.Attr{attr("node", node)})...))
	if err != nil {
		return nil, wrap("configuration of "+node, err)
	}
	opts, err := parseConfig(resp)
	return opts, wrap("configuration of "+node, err)
}

// parseConfig reads the data form of a configure result.
func parseConfig(resp []byte) (Options, error) {
	d := xml.NewDecoder(bytes.NewReader(resp))
	if _, err := rootStart(d); err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	for _, want := range []xml.Name{{Space: NSPubSubOwner, Local: "pubsub"}, {Space: NSPubSubOwner, Local: "configure"}, {Space: nsDataForm, Local: "x"}} {
		for {
			c, err := nextChild(d)
			if err == io.EOF {
				return nil, errors.New("no configuration form in the response")
			}
			if err != nil {
				return nil, fmt.Errorf("malformed response: %w", err)
			}
			if c.Name == want {
				break
			}
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("malformed response: %w", err)
			}
		}
	}
	opts := Options{}
	for {
		c, err := nextChild(d)
		if err == io.EOF {
			return opts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		if c.Name.Local != "field" {
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		var f struct {
			Values []string `xml:"value"`
		}
		if err := d.DecodeElement(&f, &c); err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		v := attrValue(c.Attr, "var")
		if v == "" || v == "FORM_TYPE" || len(f.Values) == 0 {
			continue
		}
		if _, dup := opts[v]; !dup {
			opts[v] = f.Values[0]
		}
	}
}

// DeleteNode deletes node and its items from the own PEP service
// (XEP-0060 §8.4). Deleting a node that does not exist fails with
// ErrNotFound.
func DeleteNode(ctx context.Context, s *xmpp.Session, node string) error {
	_, err := exchange(ctx, s, stanza.SetIQ, jid.JID{}, elem(NSPubSubOwner, "pubsub", nil,
		elem("", "delete", []xml.Attr{attr("node", node)})...))
	return wrap("delete node "+node, err)
}

// Retract removes item itemID from node on the own PEP service (XEP-0060
// §7.2); with notify the server tells subscribers with a <retract/>
// notification. A missing item or node fails with ErrNotFound.
func Retract(ctx context.Context, s *xmpp.Session, node, itemID string, notify bool) error {
	attrs := []xml.Attr{attr("node", node)}
	if notify {
		attrs = append(attrs, attr("notify", "true"))
	}
	_, err := exchange(ctx, s, stanza.SetIQ, jid.JID{}, elem(NSPubSub, "pubsub", nil,
		elem("", "retract", attrs, elem("", "item", []xml.Attr{attr("id", itemID)})...)...))
	return wrap("retract "+itemID+" from "+node, err)
}
