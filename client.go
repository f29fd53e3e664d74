package ox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
)

// Layout is how ox lays out its PEP nodes.
type Layout int

const (
	// LayoutSpec is XEP-0373 §4 and §5 as written: the data node's item id
	// is the publish time, the metadata item gets an id from the server,
	// one item on the secret-key node.
	LayoutSpec Layout = iota
	// LayoutCompact is the layout from the XEP's field notes: singleton
	// nodes (pubsub#max_items 1, item id "current"), a notification-only
	// metadata node where the server allows it, and one secret key per
	// item with the fingerprint as item id. Spec-only clients read it:
	// they ask for the newest item and get the only one.
	LayoutCompact
)

// Client is one account's OX over an XMPP session: publishing and fetching
// keys over PEP, backups, and (later) messages.
type Client struct {
	Session *xmpp.Session
	Backend pgp.Backend
	Store   *store.Store
	Layout  Layout
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
	// MaxKeyAge is how old the recorded announcements of a recipient (and
	// of the account's other devices) may be before Send reads the metadata
	// node again (one request; keys are fetched only if they changed).
	// Zero means DefaultMaxKeyAge; a negative value reads it for every
	// message, as a client that does not stay online to hear key-change
	// notifications should (servers may not notify at all).
	MaxKeyAge time.Duration
	// MaxStanzaSize is the server's stanza size limit; Send and SendGroup
	// refuse (StanzaTooLargeError) a message that would exceed it. Zero
	// means DefaultMaxStanzaSize.
	MaxStanzaSize int
	// OnKeyChange is told of every contact key that appears, disappears,
	// expires or is revoked, as ox learns of it (fetches and notifications).
	OnKeyChange func(KeyChange)
	// OnMessage is handed every OX message Serve reads, rejected ones
	// included (Message.Err says why); set it before Serve.
	OnMessage func(*Message)
	// Journal, when set, makes the line a message is journalled as
	// (store.MarkDeliveredJournal): written in the same transaction as its
	// delivered record, so that a process that dies at any moment neither
	// loses nor repeats it. Message.Seq is the line's number. The daemon
	// sets it; it must not block.
	Journal func(*Message) []byte

	// Window is how far the time stamps of a received message may be off
	// (check.Options.Window); zero means check.DefaultWindow.
	Window time.Duration
	// RequestTimeout bounds each operation's requests to the server; zero
	// means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxKeysPerContact is how many keys ox takes from one account's
	// metadata list (a contact's or the account's own); entries beyond it
	// are ignored with a warning and never fetched, and Publish never
	// writes more. Zero means DefaultMaxKeysPerContact.
	MaxKeysPerContact int
	// PingInterval is how long the served session may be idle before the
	// Client checks it with a ping (XEP-0199); zero means
	// DefaultPingInterval, negative no pings.
	PingInterval time.Duration

	hmu        sync.Mutex
	extra      []mux.Option                      // features' stanza handlers (Handle)
	accepted   []func(context.Context, *Message) // OnAccepted hooks
	processed  []func(context.Context, *Message) // OnProcessed hooks
	beforeOn   []func(context.Context)           // BeforeOnline hooks
	attributor GroupAttributor                   // the rooms' (SetGroupAttributor)
	work       worker                            // the pipeline's goroutine (serve.go)
	owned      func() error                      // closes what OpenLocal opened
	local      jid.JID                           // the account, for a Client without a session
	pubSource  PublicKeySource                   // what Publish publishes (SetPublicKeySource)
	life       life                              // the served session's (liveness.go)
	accepts    atomic.Int64                      // messages accepted, to prune the replay memory now and then
	lastStanza []byte                            // the stanza a handler claimed last (session goroutine only)
	cur        *stanzaLook                       // the stanza the handlers are looking at (session goroutine only)
}

// NewClient returns a Client for the session's account.
func NewClient(s *xmpp.Session, b pgp.Backend, st *store.Store) *Client {
	return &Client{Session: s, Backend: b, Store: st}
}

// JID is the account's bare JID.
func (c *Client) JID() jid.JID {
	if c.Session == nil {
		return c.local
	}
	return c.Session.LocalAddr().Bare()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// PublishReport says what Publish did.
type PublishReport struct {
	Fingerprint pgp.Fingerprint
	Data        pep.PublishResult
	Metadata    pep.PublishResult
	// Announced are the fingerprints the metadata node lists afterwards:
	// this key and every other device's.
	Announced []string
	// AccessModel is the metadata node's access model as far as known.
	AccessModel string
	// Dropped are the entries of the account's list that were not
	// published again (not fingerprints, repeated, or beyond
	// MaxKeysPerContact); Warnings say so in one line.
	Dropped  []string
	Warnings []string
	// Certifiers are the keys whose certifications were published with the
	// key (PublishCertifications).
	Certifiers []pgp.Fingerprint
}

func (c *Client) keyOptions(singleton bool) pep.Options {
	o := pep.Options{"pubsub#access_model": "open"}
	if c.Layout == LayoutCompact && singleton {
		o["pubsub#max_items"] = "1"
	}
	return o
}

// Publish announces the account's key fpr (XEP-0373 §4.1, §4.2): its
// minimal public key to the data node first, then the metadata node, read,
// merged and written so that no other device's entry is lost.
func (c *Client) publish(ctx context.Context, fpr pgp.Fingerprint) (*PublishReport, error) {
	me := c.JID()
	k, err := c.Backend.Key(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if !k.HasUserID(me) {
		return nil, fmt.Errorf("ox: key %s has no user ID %s, so contacts would refuse it: %w", fpr, pgp.UserID(me), pgp.ErrUnsupportedKey)
	}
	if err := k.Usable(c.now()); err != nil {
		return nil, fmt.Errorf("ox: will not publish key %s: %w", fpr, err)
	}
	pub, certifiers, err := c.publicForPublish(ctx, fpr, me) // certification.go
	if err != nil {
		return nil, err
	}
	rep, err := c.publishKey(ctx, fpr, pub)
	if rep != nil {
		rep.Certifiers = certifiers
	}
	return rep, err
}

// publishKey is the one publishing sequence (XEP-0373 §4.1, §4.2): the
// key pub to fpr's data node first, then fpr's entry into the metadata
// list, read, vetted and written back with every other device's entry
// that looks real (vetOwn). The entry gets a new date, or contacts see
// nothing new (§4.4).
func (c *Client) publishKey(ctx context.Context, fpr pgp.Fingerprint, pub []byte) (*PublishReport, error) {
	now := c.now().UTC()
	rep := &PublishReport{Fingerprint: fpr}
	itemID := element.FormatTime(now) // XEP-0373 §4.1: SHOULD be the publish time
	if c.Layout == LayoutCompact {
		itemID = "current"
	}
	var err error
	rep.Data, err = pep.Publish(ctx, c.Session, element.DataNode(fpr.String()), itemID, element.PubKey{Data: pub}.Marshal(), c.keyOptions(true))
	if err != nil {
		return rep, fmt.Errorf("ox: publish key %s: %w", fpr, err)
	}
	list, err := c.ownMetadata(ctx)
	if err != nil {
		return rep, err
	}
	// Dates have whole seconds, and the key may have been published
	// within the same second: then a second later.
	date := now.Truncate(time.Second)
	for _, e := range list.Keys {
		if e.Fingerprint == fpr.String() && !date.After(e.Date) {
			date = e.Date.Add(time.Second)
		}
	}
	list, rep.Dropped, rep.Warnings = c.vetOwn(ctx, withKey(list, fpr.String(), date), fpr)
	metaOpts := c.keyOptions(true)
	metaID := ""
	if c.Layout == LayoutCompact {
		metaID = "current"
		metaOpts["pubsub#deliver_payloads"] = "false"
	}
	rep.Metadata, err = pep.Publish(ctx, c.Session, element.NodePublicKeys, metaID, list.Marshal(), metaOpts)
	if err != nil {
		return rep, fmt.Errorf("ox: publish the metadata node: %w", err)
	}
	for _, e := range list.Keys {
		rep.Announced = append(rep.Announced, e.Fingerprint)
	}
	rep.AccessModel = rep.Metadata.Applied["pubsub#access_model"]
	return rep, c.recordOwn(ctx, rep.Metadata.ItemID, list)
}

// vetOwn keeps of the account's own list what vetList keeps, preferring
// fpr and the keys this device holds, so that ox never republishes junk
// or more than MaxKeysPerContact entries (a poisoned list is not
// amplified). It returns the dropped entries and a warning line.
func (c *Client) vetOwn(ctx context.Context, l *element.PublicKeysList, fpr pgp.Fingerprint) (*element.PublicKeysList, []string, []string) {
	kept, dropped := c.vetList(l, func(f string) bool {
		if f == fpr.String() {
			return true
		}
		p, err := pgp.ParseFingerprint(f)
		if err != nil {
			return false
		}
		_, err = c.Backend.Key(ctx, p)
		return err == nil
	})
	var warnings []string
	if w := droppedWarning(c.JID(), len(l.Keys), dropped, c.maxKeys()); w != "" {
		warnings = append(warnings, w+"; they are left out of what ox publishes")
	}
	return &element.PublicKeysList{Keys: kept}, dropped, warnings
}

// ownMetadata reads the account's metadata list; none yet is an empty list.
func (c *Client) ownMetadata(ctx context.Context) (*element.PublicKeysList, error) {
	items, err := pep.Items(ctx, c.Session, jid.JID{}, element.NodePublicKeys, 0)
	if errors.Is(err, pep.ErrNotFound) {
		return &element.PublicKeysList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ox: read own metadata node: %w", err)
	}
	it, ok := pep.Newest(items)
	if !ok || it.Payload == nil {
		return &element.PublicKeysList{}, nil
	}
	list, err := element.ParsePublicKeysList(it.Payload)
	if err != nil {
		// Never write over what we cannot read: another client's data
		// would be lost.
		return nil, fmt.Errorf("ox: the account's metadata node holds something ox cannot read, so it leaves it alone: %w", err)
	}
	return list, nil
}

// withKey adds fpr (or refreshes its date), keeping every other entry as
// it was written.
func withKey(l *element.PublicKeysList, fpr string, now time.Time) *element.PublicKeysList {
	out := &element.PublicKeysList{}
	for _, e := range l.Keys {
		if e.Fingerprint != fpr {
			out.Keys = append(out.Keys, e)
		}
	}
	out.Keys = append(out.Keys, element.PubKeyMetadata{Fingerprint: fpr, Date: now})
	return out
}

func withoutKey(l *element.PublicKeysList, fpr string) (*element.PublicKeysList, bool) {
	out := &element.PublicKeysList{}
	found := false
	for _, e := range l.Keys {
		if e.Fingerprint == fpr {
			found = true
			continue
		}
		out.Keys = append(out.Keys, e)
	}
	return out, found
}

func (c *Client) recordOwn(ctx context.Context, itemID string, l *element.PublicKeysList) error {
	return c.Store.SetAnnouncements(ctx, c.JID().String(), itemID, announcements(l), c.now())
}

func announcements(l *element.PublicKeysList) []store.Announcement {
	out := make([]store.Announcement, 0, len(l.Keys))
	for _, e := range l.Keys {
		out = append(out, store.Announcement{Fingerprint: e.Fingerprint, Date: e.Date})
	}
	return out
}

// Unpublish removes the account's key fpr from the metadata node (keeping
// every other device's entry) and deletes its data node.
func (c *Client) unpublish(ctx context.Context, fpr pgp.Fingerprint) error {
	list, err := c.ownMetadata(ctx)
	if err != nil {
		return err
	}
	rest, found := withoutKey(list, fpr.String())
	if found {
		rest, _, _ = c.vetOwn(ctx, rest, fpr)
		opts := c.keyOptions(true)
		id := ""
		if c.Layout == LayoutCompact {
			id = "current"
			opts["pubsub#deliver_payloads"] = "false"
		}
		res, err := pep.Publish(ctx, c.Session, element.NodePublicKeys, id, rest.Marshal(), opts)
		if err != nil {
			return fmt.Errorf("ox: update the metadata node: %w", err)
		}
		if err := c.recordOwn(ctx, res.ItemID, rest); err != nil {
			return err
		}
	}
	err = pep.DeleteNode(ctx, c.Session, element.DataNode(fpr.String()))
	if errors.Is(err, pep.ErrNotFound) {
		if !found {
			return fmt.Errorf("ox: key %s is not published: %w", fpr, pep.ErrNotFound)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ox: delete the data node of %s: %w", fpr, err)
	}
	return nil
}

// KeyProblem is an announced key that was not taken, and why.
type KeyProblem struct {
	Fingerprint string
	Reason      string
}

// FetchReport says what Fetch found.
type FetchReport struct {
	JID jid.JID
	// MetadataItem is the id of the metadata item read.
	MetadataItem string
	// Announced are the fingerprints the contact announces.
	Announced []string
	// Imported are keys fetched and stored now; Unchanged were known and
	// not fetched again.
	Imported  []pgp.KeyInfo
	Unchanged []string
	// Rejected are announced keys that were not taken.
	Rejected []KeyProblem
	// Kept are announced keys whose data node failed this time, still
	// used in the copy held from before (they are in Unchanged too).
	Kept []KeyProblem
	// Dropped counts the list's entries left out (not fingerprints,
	// repeated, or beyond MaxKeysPerContact); nothing of them was fetched.
	Dropped int
	// Warnings say, in one line each, what was wrong with the list.
	Warnings []string
	// Skipped are metadata entries that could not be read.
	Skipped []string
	// Added and Removed are the keys that appeared in or left the
	// contact's announcements since they were last read (none on the first
	// read of a contact, where every key is new).
	Added, Removed []string
}

// ErrNoKeysPublished: the contact has no OX metadata node, or it is empty.
var ErrNoKeysPublished = errors.New("ox: no OX keys published")

// Fetch reads j's metadata node and every key it announces that is not
// stored yet or has changed (XEP-0373 §4.3, §4.4). Only a key whose
// fingerprint matches its node and that carries the user ID "xmpp:<j>" is
// imported.
// fetch0 reads j's key list and the data nodes of the keys it announces
// that are new or re-dated; force reads every announced key's node again
// (ox cert refresh: new certifications and revocations).
func (c *Client) fetch0(ctx context.Context, j jid.JID, force bool) (*FetchReport, error) {
	j = j.Bare()
	items, err := pep.Items(ctx, c.Session, j, element.NodePublicKeys, 1)
	switch {
	case errors.Is(err, pep.ErrNotFound), errors.Is(err, pep.ErrForbidden):
		// Servers answer "no such node" and "no access" alike (Prosody says
		// forbidden for both), so say both.
		return nil, fmt.Errorf("%w by %s, or only to their contacts (the server answered %v)", ErrNoKeysPublished, j, errors.Unwrap(err))
	case err != nil:
		return nil, fmt.Errorf("ox: fetch %s's metadata: %w", j, err)
	}
	it, ok := pep.Newest(items)
	if !ok || it.Payload == nil {
		return nil, fmt.Errorf("%w by %s", ErrNoKeysPublished, j)
	}
	list, err := element.ParsePublicKeysList(it.Payload)
	if err != nil {
		return nil, fmt.Errorf("ox: %s's metadata node: %w", j, err)
	}
	return c.fetchListed(ctx, j, it.ID, list, force)
}

func (c *Client) fetchListed(ctx context.Context, j jid.JID, itemID string, list *element.PublicKeysList, force bool) (*FetchReport, error) {
	rep := &FetchReport{JID: j, MetadataItem: itemID, Skipped: list.Skipped}
	known := map[string]store.Announcement{}
	if prev, _, _, err := c.Store.Announcements(ctx, j.String()); err == nil {
		for _, a := range prev {
			known[a.Fingerprint] = a
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	entries, dropped := c.vetList(list, func(f string) bool { _, ok := known[f]; return ok })
	rep.Dropped = len(dropped)
	if w := droppedWarning(j, len(list.Keys), dropped, c.maxKeys()); w != "" {
		rep.Warnings = append(rep.Warnings, w)
		c.warnEvent(ctx, j, "", "capped", w)
	}
	var keep []element.PubKeyMetadata
	for _, e := range entries {
		rep.Announced = append(rep.Announced, e.Fingerprint)
		fpr, _ := pgp.ParseFingerprint(e.Fingerprint) // vetList kept only valid ones
		if a, ok := known[e.Fingerprint]; ok && a.Date.Equal(e.Date) && !force {
			if _, err := c.Backend.Key(ctx, fpr); err == nil {
				rep.Unchanged = append(rep.Unchanged, e.Fingerprint)
				keep = append(keep, e)
				continue
			}
		}
		held, heldErr := c.Backend.Key(ctx, fpr)
		k, problem, err := c.fetchKey(ctx, j, fpr)
		if err != nil {
			return rep, err
		}
		if problem == "" && heldErr == nil && k.Revoked && !held.Revoked {
			// A key already held, revoked since: the contact's client
			// published the revocation (XEP-0373 §4.4 refetch).
			c.warnEvent(ctx, j, e.Fingerprint, "revoked", revocationWords(k))
		}
		if problem != "" {
			// The node no longer holds a usable copy of an announced key
			// we hold: keep using the copy we have (a hostile or broken
			// data node must not silence a contact), and say so.
			if held, err := c.Backend.Key(ctx, fpr); err == nil && held.HasUserID(j) {
				why := "its data node now fails (" + problem + "); ox keeps using the copy it has"
				rep.Kept = append(rep.Kept, KeyProblem{e.Fingerprint, why})
				c.warnEvent(ctx, j, e.Fingerprint, "kept", why)
				rep.Unchanged = append(rep.Unchanged, e.Fingerprint)
				keep = append(keep, e)
				continue
			}
			rep.Rejected = append(rep.Rejected, KeyProblem{e.Fingerprint, problem})
			c.warnEvent(ctx, j, e.Fingerprint, "refused", problem)
			continue
		}
		rep.Imported = append(rep.Imported, k)
		keep = append(keep, e)
	}
	// Record only the keys we hold, so that a key that could not be
	// fetched is tried again next time.
	if err := c.Store.SetAnnouncements(ctx, j.String(), itemID, announcements(&element.PublicKeysList{Keys: keep}), c.now()); err != nil {
		return rep, err
	}
	if err := c.noteKeyChanges(ctx, j, known, keep, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// revocationWords says why and when k was revoked, for a key event.
func revocationWords(k pgp.KeyInfo) string {
	w := "revoked (" + k.RevocationReason.String() + ")"
	if !k.RevokedAt.IsZero() {
		w += " at " + k.RevokedAt.UTC().Format(time.RFC3339)
	}
	if k.RevocationText != "" {
		w += ": " + k.RevocationText
	}
	return w
}

// DefaultMaxKeysPerContact is how many keys ox takes from one metadata
// list when Client.MaxKeysPerContact is zero: far above any real count of
// devices, far below what a hostile list could make ox fetch.
const DefaultMaxKeysPerContact = 32

func (c *Client) maxKeys() int {
	if c.MaxKeysPerContact > 0 {
		return c.MaxKeysPerContact
	}
	return DefaultMaxKeysPerContact
}

// vetList keeps the entries of a metadata list that look like real
// devices: valid v4 fingerprints (XEP-0373 §4.2), each once, at most
// maxKeys of them. Entries prefer(f) says to keep (keys already held, the
// account's own) go first, so that junk ahead of them in the list cannot
// push them out. The rest are returned as dropped, in list order.
func (c *Client) vetList(l *element.PublicKeysList, prefer func(string) bool) (kept []element.PubKeyMetadata, dropped []string) {
	max := c.maxKeys()
	seen := map[string]bool{}
	var valid, first, rest []element.PubKeyMetadata
	for _, e := range l.Keys {
		f, err := pgp.ParseFingerprint(e.Fingerprint)
		if err != nil || seen[f.String()] {
			dropped = append(dropped, e.Fingerprint)
			continue
		}
		seen[f.String()] = true
		valid = append(valid, e)
	}
	for _, e := range valid {
		if prefer != nil && prefer(e.Fingerprint) {
			first = append(first, e)
		} else {
			rest = append(rest, e)
		}
	}
	for _, e := range append(first, rest...) {
		if len(kept) < max {
			kept = append(kept, e)
		} else {
			dropped = append(dropped, e.Fingerprint)
		}
	}
	// Keep the list's own order among the kept entries.
	pos := map[string]int{}
	for i, e := range valid {
		pos[e.Fingerprint] = i
	}
	sort.SliceStable(kept, func(a, b int) bool { return pos[kept[a].Fingerprint] < pos[kept[b].Fingerprint] })
	return kept, dropped
}

// droppedWarning is the one line that says what vetList left out of j's
// list of n entries, or "" when nothing was.
func droppedWarning(j jid.JID, n int, dropped []string, max int) string {
	if len(dropped) == 0 {
		return ""
	}
	return fmt.Sprintf("%s's key list has %d entries; ox took %d and ignored %d (not a fingerprint, listed twice, or beyond the limit of %d keys per account)", j, n, n-len(dropped), len(dropped), max)
}

// fetchKey fetches and vets one announced key. A problem with the key is
// returned as a reason, not an error: the other keys are still fetched.
func (c *Client) fetchKey(ctx context.Context, j jid.JID, fpr pgp.Fingerprint) (pgp.KeyInfo, string, error) {
	items, err := pep.Items(ctx, c.Session, j, element.DataNode(fpr.String()), 1)
	switch {
	case errors.Is(err, pep.ErrNotFound):
		return pgp.KeyInfo{}, "announced, but its data node is missing", nil
	case errors.Is(err, pep.ErrForbidden):
		return pgp.KeyInfo{}, "its data node is not readable to you", nil
	case err != nil:
		return pgp.KeyInfo{}, "", fmt.Errorf("ox: fetch %s's key %s: %w", j, fpr, err)
	}
	it, ok := pep.Newest(items)
	if !ok || it.Payload == nil {
		return pgp.KeyInfo{}, "its data node is empty", nil
	}
	pk, err := element.ParsePubKey(it.Payload)
	if err != nil {
		return pgp.KeyInfo{}, "unreadable <pubkey/>: " + err.Error(), nil
	}
	ks, err := c.Backend.Inspect(ctx, pk.Data)
	if err != nil {
		return pgp.KeyInfo{}, "unreadable key: " + err.Error(), nil
	}
	if len(ks) == 0 {
		return pgp.KeyInfo{}, "its data node holds no OpenPGP key", nil
	}
	if len(ks) != 1 || ks[0].Fingerprint != fpr {
		got := make([]string, len(ks))
		for i, k := range ks {
			got[i] = k.Fingerprint.String()
		}
		return pgp.KeyInfo{}, "the node holds key " + strings.Join(got, ", ") + ", not the announced one", nil
	}
	if !ks[0].HasUserID(j) {
		return pgp.KeyInfo{}, "the key lacks the user ID " + pgp.UserID(j), nil
	}
	imported, err := c.Backend.Import(ctx, pk.Data)
	if err != nil {
		return pgp.KeyInfo{}, "", err
	}
	return imported[0], "", nil
}

// HandleEvent follows a contact's key changes from a PEP notification
// (XEP-0373 §4.5): with the metadata in the payload it fetches what
// changed; for an id-only notification (a notification-only node) it reads
// the metadata node first. Own-account events update what is recorded of
// the account's own devices.
func (c *Client) HandleEvent(ctx context.Context, ev pep.Event) (*FetchReport, error) {
	if ev.Node != element.NodePublicKeys {
		return nil, nil
	}
	from := ev.From
	if from.Equal(jid.JID{}) {
		from = c.JID()
	}
	if n := len(ev.Items); n > 0 && ev.Items[n-1].Payload != nil {
		it := ev.Items[n-1] // the newest: XEP-0060 sends items in publish order
		list, err := element.ParsePublicKeysList(it.Payload)
		if err != nil {
			return nil, fmt.Errorf("ox: %s's metadata notification: %w", from, err)
		}
		return c.fetchListed(ctx, from.Bare(), it.ID, list, false)
	}
	return c.Fetch(ctx, from)
}

// Announced returns the fingerprints j is recorded to announce, sorted.
func (c *Client) Announced(ctx context.Context, j jid.JID) ([]string, error) {
	list, _, _, err := c.Store.Announcements(ctx, j.Bare().String())
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Fingerprint
	}
	sort.Strings(out)
	return out, nil
}
