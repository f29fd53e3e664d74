package muc

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
)

// Group chat: OX in XEP-0045 non-anonymous rooms. Every occupant's real
// JID is known (the room says it in its presence), so a message is
// encrypted to each occupant's and member's keys like a chat message to
// each of them, with <to/> the room's bare JID, and the sender is verified
// by the real JID behind their nick.

// MUC namespaces (XEP-0045 §19.1).
const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = "http://jabber.org/protocol/muc#user"
	nsMUCAdmin = "http://jabber.org/protocol/muc#admin"
	nsMUCOwner = "http://jabber.org/protocol/muc#owner"
	nsAddress  = "http://jabber.org/protocol/address"
)

// Bounds of the waits on the room.
const (
	joinTimeout  = 20 * time.Second // for the self-presence
	subjectWait  = 5 * time.Second  // for the end of the history
	echoTimeout  = 15 * time.Second // for the room to reflect a message
	leaveTimeout = 5 * time.Second  // for the room to confirm we left
)

// ErrSemiAnonymous: the room does not give its occupants' real JIDs to
// everyone (XEP-0045 §7.2.4), so OX can neither encrypt to them nor verify
// who wrote a message. errors.Is matches a *SemiAnonymousError.
var ErrSemiAnonymous = errors.New("muc: the room is not non-anonymous")

// SemiAnonymousError: Join refused a room (and left it), or SendGroup a
// room that turned semi-anonymous after the join.
type SemiAnonymousError struct {
	Room jid.JID
	// Why says what showed it (status codes, service discovery).
	Why string
}

// Permanent: joining again does not change what the room is (ox.Transient
// is false for it).
func (e *SemiAnonymousError) Permanent() bool { return true }

func (e *SemiAnonymousError) Error() string {
	return fmt.Sprintf("muc: room %s is semi-anonymous (%s): it does not show its occupants' real JIDs, which OX needs to encrypt to them and to verify them; ask its owner to make it non-anonymous (muc#roomconfig_whois = anyone)", e.Room, e.Why)
}

// Is makes errors.Is(err, ErrSemiAnonymous) true.
func (e *SemiAnonymousError) Is(target error) bool { return target == ErrSemiAnonymous }

// ErrNoGroupRecipients: nobody in the room but the account has a usable
// key, so SendGroup sent nothing (never plaintext).
var ErrNoGroupRecipients = errors.New("muc: nobody else in the room has a usable key")

// ErrNotInRoom: the room is not joined (never, or no longer).
var ErrNotInRoom = errors.New("muc: not in the room")

// JoinError is the room's refusal of a join (XEP-0045 §7.2), e.g.
// "conflict" for a nick in use.
type JoinError struct {
	Room      jid.JID
	Nick      string
	Condition string // the stanza error condition, e.g. "conflict"
	Text      string // the room's text, if any
}

func (e *JoinError) Error() string {
	s := fmt.Sprintf("muc: %s refused the join as %q: %s", e.Room, e.Nick, e.Condition)
	if why, ok := joinConditions[e.Condition]; ok {
		s += " (" + why + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Permanent: a refusal that joining again will not change (a ban, a
// members-only room, a password, a nick the room's rules refuse), for
// which ox.Transient is false. A nick in use (perhaps by the account's own
// session that a cut left), a full room, or a room gone with a server
// restart may change.
func (e *JoinError) Permanent() bool {
	switch e.Condition {
	case "forbidden", "registration-required", "not-authorized", "not-acceptable":
		return true
	}
	return false
}

var joinConditions = map[string]string{
	"conflict":              "the nick is taken",
	"not-authorized":        "the room needs a password",
	"forbidden":             "you are banned from it",
	"registration-required": "the room is members-only",
	"service-unavailable":   "the room is full",
	"item-not-found":        "the room does not exist",
	"not-allowed":           "you may not create rooms there",
	"not-acceptable":        "the nick does not fit the room's rules",
}

// Occupant is someone in a room.
type Occupant struct {
	Nick string
	// JID is the real JID the room gives (full, or bare); zero if it does
	// not give one.
	JID         jid.JID
	Affiliation string // owner, admin, member, none
	Role        string // moderator, participant, visitor
}

// Affiliate is an account with a lasting affiliation to a room, present
// or not.
type Affiliate struct {
	JID         jid.JID // bare
	Affiliation string  // owner, admin or member
}

// Room is a joined room (XEP-0045). Its state follows the room's presence
// as it comes; the methods are safe for concurrent use.
type Room struct {
	// JID is the room's bare JID.
	JID jid.JID
	// Nick is the account's nick in it, as the room assigned it at join.
	Nick string

	mu           sync.Mutex
	nick         string
	state        roomState
	nonAnonymous bool   // status 100 in the self-presence, or muc_nonanonymous
	created      bool   // status 201: the join made the room
	semi         string // why the room is known to be semi-anonymous, "" if not
	history      bool   // between the self-presence and the subject: the room replays its history
	occupants    map[string]Occupant
	affiliations map[string]string // bare real JID -> owner, admin, member
	lists        []string          // the affiliation lists the room lets us read
	leftWhy      string            // why the room put us out
	echo         map[string]chan struct{}
	// reentered: Reenter registered the room, for a session an earlier
	// process left in it; asked: the join's presence went out, so the
	// self-presence completes the join; held: group messages that came
	// while the room was being joined, attributed once it is.
	reentered bool
	asked     bool
	held      [][]byte

	joined   chan struct{}   // closed at the self-presence
	joinErr  chan *JoinError // the room's refusal
	subject  chan struct{}   // closed at the subject (end of history)
	left     chan struct{}   // closed at our unavailable self-presence
	once     sync.Once       // closes subject
	leftOnce sync.Once
}

type roomState int

const (
	roomJoining roomState = iota
	roomJoined
	roomLeft
)

// Occupants are the room's occupants, the account included, by nick.
func (r *Room) Occupants() []Occupant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Occupant, 0, len(r.occupants))
	for _, o := range r.occupants {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Nick < out[j].Nick })
	return out
}

// Affiliates are the room's owners, admins and members as far as known:
// from the lists the room lets the account read (XEP-0045 §9.5, §10.5,
// §10.8) and from its occupants' presence.
func (r *Room) Affiliates() []Affiliate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Affiliate, 0, len(r.affiliations))
	for j, a := range r.affiliations {
		out = append(out, Affiliate{JID: jid.MustParse(j), Affiliation: a})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JID.String() < out[j].JID.String() })
	return out
}

// Joined reports whether the account is still in the room.
func (r *Room) Joined() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == roomJoined
}

// Rooms are the rooms one Client is in: the client's group chat.
type Rooms struct {
	c *ox.Client

	mu        sync.Mutex
	m         map[string]*Room // joined rooms, by bare JID
	onChange  func([]Seat)
	onRemoved func(room jid.JID, why string)
}

// Seat is a room the account is in, and its nick there.
type Seat struct {
	Room jid.JID
	Nick string
}

// Seats are the rooms the account is in: those joined, and those Reenter
// registered until their join ends.
func (rs *Rooms) Seats() []Seat {
	rs.mu.Lock()
	rooms := make([]*Room, 0, len(rs.m))
	for _, r := range rs.m {
		rooms = append(rooms, r)
	}
	rs.mu.Unlock()
	var out []Seat
	for _, r := range rooms {
		r.mu.Lock()
		if r.state == roomJoined || (r.state == roomJoining && r.reentered) {
			out = append(out, Seat{Room: r.JID, Nick: r.nick})
		}
		r.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room.String() < out[j].Room.String() })
	return out
}

// Union is a and the seats of b in rooms a has none in.
func Union(a, b []Seat) []Seat {
	out := append([]Seat(nil), a...)
	for _, s := range b {
		if !slices.ContainsFunc(a, func(t Seat) bool { return t.Room.Equal(s.Room) }) {
			out = append(out, s)
		}
	}
	return out
}

// OnChange calls f with Seats now and after each change: a join, a leave,
// a room that put the account out. A process that keeps its session's
// resumption keeps these with it, for Reenter.
func (rs *Rooms) OnChange(f func([]Seat)) {
	rs.mu.Lock()
	rs.onChange = f
	rs.mu.Unlock()
	rs.changed()
}

// OnRemoved sets f to hear of each room that puts the account out,
// which it did not leave itself: destroyed (XEP-0045 §10.9), a kick
// (§8.2, status 307), a ban (§9.1, 301), no longer a member (321, 322),
// the service shutting down (332). why says which. f runs on the
// session's goroutine: it must not block.
func (rs *Rooms) OnRemoved(f func(room jid.JID, why string)) {
	rs.mu.Lock()
	rs.onRemoved = f
	rs.mu.Unlock()
}

func (rs *Rooms) changed() {
	rs.mu.Lock()
	f := rs.onChange
	rs.mu.Unlock()
	if f != nil {
		f(rs.Seats())
	}
}

// Reenter is for a session that resumed one an earlier process left
// (XEP-0198 §5): the server kept it in the rooms seats names, which this
// process does not know. It registers them, so that their group messages
// (those the server sends again first among them) are held rather than
// refused as from rooms ox is not in; Join each of them then, as the
// room's nick, to learn its occupants: the room takes a join from an
// occupant as a request for everything a join sends (XEP-0045 §18.3,
// rule 3), and the held messages are attributed once the account's own
// presence ends the occupant list. Call it before the Client is served.
func (rs *Rooms) Reenter(seats []Seat) {
	for _, st := range seats {
		r := newRoom(st.Room.Bare(), st.Nick)
		r.reentered = true
		rs.addRoom(r)
	}
	rs.changed()
}

func newRoom(room jid.JID, nick string) *Room {
	return &Room{
		JID: room, nick: nick,
		occupants: map[string]Occupant{}, affiliations: map[string]string{}, echo: map[string]chan struct{}{},
		joined: make(chan struct{}), joinErr: make(chan *JoinError, 1), subject: make(chan struct{}), left: make(chan struct{}),
	}
}

// claim is the room Reenter registered for room, for Join to take, or nil.
func (rs *Rooms) claim(room jid.JID) *Room {
	r := rs.room(room)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reentered || r.asked || r.state != roomJoining {
		return nil
	}
	r.asked = true
	return r
}

// New gives c the handlers for rooms and group chat OX messages (presence
// from rooms, group messages, subjects, status messages) and returns its
// Rooms; call it before c is served.
func New(c *ox.Client) *Rooms {
	rs := &Rooms{c: c, m: map[string]*Room{}}
	c.Handle(rs.handlers()...)
	c.SetGroupAttributor(rs.attributeLater)
	return rs
}

// TakeOver carries the rooms prev was in over to rs, for a session that
// resumed the one prev served (XEP-0198 §5): the server kept the account
// in them, and sends on what the lost connection did not read, group
// messages and presence alike. Without it, those messages would be from
// rooms rs does not know, and refused. Call it before rs's Client is
// served, and only for a resumed session: after a new login the account
// is in no room. A room that Reenter registered and whose join had not
// ended is registered again: it is among the seats returned, to Join.
func (rs *Rooms) TakeOver(prev *Rooms) (rejoin []Seat) {
	if prev == nil || prev == rs {
		return nil
	}
	prev.mu.Lock()
	var joined []*Room
	for _, r := range prev.m {
		joined = append(joined, r)
	}
	prev.mu.Unlock()
	for _, r := range joined {
		r.mu.Lock()
		state, pending, nick, held := r.state, r.state == roomJoining && r.reentered, r.nick, r.held
		r.held = nil
		r.mu.Unlock()
		switch {
		case state == roomJoined:
			rs.addRoom(r)
		case pending:
			// What it held waits for the join on this session.
			again := newRoom(r.JID, nick)
			again.reentered, again.held = true, held
			rs.addRoom(again)
			rejoin = append(rejoin, Seat{Room: r.JID, Nick: nick})
		}
	}
	rs.changed()
	return rejoin
}

// In is room (a bare JID) if the account is in it, else nil: joined by
// this Rooms, carried over by TakeOver, or joined again after Reenter.
func (rs *Rooms) In(room jid.JID) *Room {
	if r := rs.room(room); r != nil && r.Joined() {
		return r
	}
	return nil
}

func (rs *Rooms) room(j jid.JID) *Room {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.m[j.Bare().String()]
}

func (rs *Rooms) addRoom(r *Room) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	k := r.JID.String()
	if old, ok := rs.m[k]; ok && old != r {
		return false
	}
	rs.m[k] = r
	return true
}

func (rs *Rooms) dropRoom(r *Room) {
	rs.mu.Lock()
	dropped := rs.m[r.JID.String()] == r
	if dropped {
		delete(rs.m, r.JID.String())
	}
	rs.mu.Unlock()
	if dropped {
		rs.changed()
	}
}

// abandon drops a room whose join failed; the group messages held for it
// go to the pipeline as refused, with why.
func (rs *Rooms) abandon(r *Room, why error) {
	rs.dropRoom(r)
	r.mu.Lock()
	held := r.held
	r.held = nil
	r.mu.Unlock()
	for _, raw := range held {
		rs.c.Enqueue(refused(raw, fmt.Errorf("muc: a group message from %s, a room ox could not join again: %w", r.JID, why)))
	}
}

// release attributes and hands on the group messages held while r was
// being joined, once it is.
func (rs *Rooms) release(r *Room) {
	r.mu.Lock()
	var held [][]byte
	if r.state == roomJoined {
		held, r.held = r.held, nil
	}
	r.mu.Unlock()
	for _, raw := range held {
		rs.enqueue(raw)
	}
}

// JoinOption tunes Join.
type JoinOption func(*joinConfig)

type joinConfig struct {
	history  int // -1: the room's default
	since    time.Time
	password string
	existing bool
}

// Existing joins only a room that exists: one that the join made (status
// 201: it was gone, e.g. destroyed, or not persistent and the server
// restarted) is destroyed again (XEP-0045 §10.9; left, if the service
// refuses), and the join fails with the JoinError "item-not-found". For a
// join again, which must not make the account the owner of a new room of
// that name.
func Existing() JoinOption {
	return func(c *joinConfig) { c.existing = true }
}

// MaxHistory asks the room to replay at most n messages of its history on
// join (0: none). Without it the room sends its default.
func MaxHistory(n int) JoinOption {
	return func(c *joinConfig) { c.history = max(n, 0) }
}

// HistorySince asks the room to replay only the history since t (XEP-0045
// §7.2.14): a rejoin after a new login reads what was said while the
// account was out, and the pipeline drops what it had shown already.
func HistorySince(t time.Time) JoinOption {
	return func(c *joinConfig) { c.since = t }
}

// RoomPassword joins a password-protected room.
func RoomPassword(p string) JoinOption {
	return func(c *joinConfig) { c.password = p }
}

// Join enters room (its bare JID) as nick (XEP-0045 §7.2) and returns once
// the room has sent the occupant list and the account's own presence. It
// refuses a room that does not show every occupant's real JID with a
// *SemiAnonymousError (ErrSemiAnonymous) and leaves it again: the
// self-presence must carry status code 100, or the room's service
// discovery the feature muc_nonanonymous, and discovery must not say
// muc_semianonymous. It then reads the member, admin and owner lists where
// the room allows it (forbidden is no error) and waits a little for the
// end of the history the room replays (those messages are handed to
// OnMessage like live ones). Group messages that come while it waits for
// the self-presence are held until it comes, and shown refused if the
// join fails; a room Reenter registered is joined so, in place.
//
// Serve must be running: the room's answers arrive through it.
func (rs *Rooms) Join(ctx context.Context, room jid.JID, nick string, opts ...JoinOption) (*Room, error) {
	ctx, cancel := rs.c.Request(ctx)
	defer cancel()
	cfg := joinConfig{history: -1}
	for _, o := range opts {
		o(&cfg)
	}
	room = room.Bare()
	if room.Localpart() == "" {
		return nil, fmt.Errorf("muc: %s is not a room: want a JID like room@conference.example.org", room)
	}
	full, err := room.WithResource(nick)
	if err != nil || nick == "" {
		return nil, fmt.Errorf("muc: %q is not a valid nick: %v", nick, err)
	}
	r := rs.claim(room)
	if r != nil {
		r.mu.Lock()
		r.nick = full.Resourcepart()
		r.mu.Unlock()
	} else {
		r = newRoom(room, full.Resourcepart())
		r.asked = true
		if !rs.addRoom(r) {
			return nil, fmt.Errorf("muc: already in %s", room)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if err := rs.c.Session.Send(jctx, stanza.Presence{To: full}.Wrap(joinPayload(cfg))); err != nil {
		err = fmt.Errorf("muc: join %s: %w", room, err)
		rs.abandon(r, err)
		return nil, err
	}
	select {
	case <-r.joined:
	case je := <-r.joinErr:
		rs.abandon(r, je)
		return nil, je
	case <-jctx.Done():
		err := fmt.Errorf("muc: %s did not let %s in: %w", room, nick, jctx.Err())
		rs.abandon(r, err)
		rs.c.Session.Send(context.Background(), stanza.Presence{To: full, Type: stanza.UnavailablePresence}.Wrap(nil))
		return nil, err
	}
	r.mu.Lock()
	r.Nick = r.nick
	status100, created := r.nonAnonymous, r.created
	r.mu.Unlock()
	if created && cfg.existing {
		je := &JoinError{Room: room, Nick: r.Nick, Condition: "item-not-found", Text: "it was gone, and is not made anew"}
		lctx, lcancel := context.WithTimeout(context.Background(), leaveTimeout)
		destroy := xmlstream.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "destroy"}}), xml.StartElement{Name: xml.Name{Space: nsMUCOwner, Local: "query"}})
		if rs.c.Session.UnmarshalIQElement(lctx, destroy, stanza.IQ{Type: stanza.SetIQ, To: room}, nil) != nil {
			rs.Leave(lctx, r)
		}
		lcancel()
		rs.abandon(r, je)
		return nil, je
	}
	if created {
		// A new room (status 201), perhaps locked until its owner
		// configures it (XEP-0045 §10.1): make it non-anonymous, as OX
		// needs, keeping the service's defaults for the rest.
		rs.configureNew(jctx, room)
	}

	// The room's configuration, as its service discovery states it.
	var why []string
	nonAnon, semi := status100, false
	if !status100 {
		why = append(why, "no status code 100 in its presence")
	}
	if info, err := disco.GetInfo(jctx, "", room, rs.c.Session); err == nil {
		for _, f := range info.Features {
			switch f.Var {
			case "muc_nonanonymous":
				nonAnon = true
			case "muc_semianonymous", "muc_anonymous":
				semi = true
				why = append(why, "its service discovery says "+f.Var)
			}
		}
	}
	if !nonAnon || semi {
		lctx, lcancel := context.WithTimeout(context.Background(), leaveTimeout)
		rs.Leave(lctx, r)
		lcancel()
		return nil, &SemiAnonymousError{Room: room, Why: strings.Join(why, "; ")}
	}
	r.mu.Lock()
	r.nonAnonymous = true
	r.mu.Unlock()

	rs.readAffiliations(jctx, r, []string{"owner", "admin", "member"})

	t := time.NewTimer(subjectWait)
	defer t.Stop()
	select {
	case <-r.subject:
	case <-t.C:
	case <-jctx.Done():
	}
	r.endHistory()
	rs.changed()
	return r, nil
}

// configureNew submits the owner's configuration form of a room the join
// created with muc#roomconfig_whois = anyone (XEP-0045 §10.1.3, §10.2);
// if the service refuses, it asks for an instant room (§10.1.2) so that
// the room is at least unlocked. Join then finds out what the room is.
func (rs *Rooms) configureNew(ctx context.Context, room jid.JID) {
	field := func(name, value string) xml.TokenReader {
		return xmlstream.Wrap(
			xmlstream.Wrap(xmlstream.Token(xml.CharData(value)), xml.StartElement{Name: xml.Name{Local: "value"}}),
			xml.StartElement{Name: xml.Name{Local: "field"}, Attr: []xml.Attr{{Name: xml.Name{Local: "var"}, Value: name}}},
		)
	}
	submit := func(fields ...xml.TokenReader) error {
		form := xmlstream.Wrap(xmlstream.MultiReader(fields...), xml.StartElement{
			Name: xml.Name{Space: "jabber:x:data", Local: "x"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}},
		})
		q := xmlstream.Wrap(form, xml.StartElement{Name: xml.Name{Space: nsMUCOwner, Local: "query"}})
		return rs.c.Session.UnmarshalIQElement(ctx, q, stanza.IQ{Type: stanza.SetIQ, To: room}, nil)
	}
	if submit(field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"), field("muc#roomconfig_whois", "anyone")) != nil {
		submit()
	}
}

func joinPayload(cfg joinConfig) xml.TokenReader {
	var inner []xml.TokenReader
	var history []xml.Attr
	if cfg.history >= 0 {
		history = append(history, xml.Attr{Name: xml.Name{Local: "maxstanzas"}, Value: strconv.Itoa(cfg.history)})
	}
	if !cfg.since.IsZero() {
		history = append(history, xml.Attr{Name: xml.Name{Local: "since"}, Value: cfg.since.UTC().Format(time.RFC3339)})
	}
	if len(history) > 0 {
		inner = append(inner, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "history"}, Attr: history}))
	}
	if cfg.password != "" {
		inner = append(inner, xmlstream.Wrap(xmlstream.Token(xml.CharData(cfg.password)), xml.StartElement{Name: xml.Name{Local: "password"}}))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: xml.Name{Space: nsMUC, Local: "x"}})
}

func (r *Room) endHistory() {
	r.once.Do(func() {
		r.mu.Lock()
		r.history = false
		r.mu.Unlock()
		close(r.subject)
	})
}

// readAffiliations asks the room for its affiliation lists (XEP-0045 §9.5,
// §10.5, §10.8); a list the room does not show the account is skipped.
func (rs *Rooms) readAffiliations(ctx context.Context, r *Room, lists []string) {
	var allowed []string
	for _, aff := range lists {
		var res struct {
			Items []struct {
				JID         string `xml:"jid,attr"`
				Affiliation string `xml:"affiliation,attr"`
			} `xml:"item"`
		}
		q := xmlstream.Wrap(
			xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "item"}, Attr: []xml.Attr{{Name: xml.Name{Local: "affiliation"}, Value: aff}}}),
			xml.StartElement{Name: xml.Name{Space: nsMUCAdmin, Local: "query"}},
		)
		if err := rs.c.Session.UnmarshalIQElement(ctx, q, stanza.IQ{Type: stanza.GetIQ, To: r.JID}, &res); err != nil {
			continue // forbidden for most: only admins (or members of members-only rooms) may
		}
		allowed = append(allowed, aff)
		r.mu.Lock()
		for j, a := range r.affiliations {
			if a == aff {
				delete(r.affiliations, j)
			}
		}
		for _, it := range res.Items {
			if j, err := jid.Parse(it.JID); err == nil && j.Localpart() != "" {
				r.affiliations[j.Bare().String()] = aff
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.lists = allowed
	r.mu.Unlock()
}

// Leave leaves the room (XEP-0045 §7.14) and waits, briefly, for the room
// to confirm it. A room the account is no longer in is no error.
func (rs *Rooms) Leave(ctx context.Context, r *Room) error {
	r.mu.Lock()
	state, nick := r.state, r.nick
	r.mu.Unlock()
	defer rs.dropRoom(r)
	if state == roomLeft {
		return nil
	}
	full, err := r.JID.WithResource(nick)
	if err != nil {
		return err
	}
	if err := rs.c.Session.Send(ctx, stanza.Presence{To: full, Type: stanza.UnavailablePresence}.Wrap(nil)); err != nil {
		return fmt.Errorf("muc: leave %s: %w", r.JID, err)
	}
	t := time.NewTimer(leaveTimeout)
	defer t.Stop()
	select {
	case <-r.left:
	case <-t.C:
	case <-ctx.Done():
	}
	r.markLeft("left")
	return nil
}

func (r *Room) markLeft(why string) {
	r.leftOnce.Do(func() {
		r.mu.Lock()
		r.state, r.leftWhy = roomLeft, why
		r.mu.Unlock()
		close(r.left)
	})
}

// GroupParticipant is one person a group message was, or was not,
// encrypted to.
type GroupParticipant struct {
	JID         jid.JID  // real bare JID; zero when the room does not give it
	Nicks       []string // nicks in the room; none for an affiliate who is not in it
	Affiliation string
	// Keys are the fingerprints the message was encrypted to.
	Keys []pgp.Fingerprint
	// Reason says why nothing was encrypted to them.
	Reason string
}

// Name is how the participant is shown: nick(s) and real JID.
func (p GroupParticipant) Name() string {
	switch {
	case len(p.Nicks) > 0 && p.JID.Equal(jid.JID{}):
		return strings.Join(p.Nicks, ", ")
	case len(p.Nicks) > 0:
		return strings.Join(p.Nicks, ", ") + " (" + p.JID.String() + ")"
	}
	return p.JID.String() + " (" + p.Affiliation + ", not in the room)"
}

// GroupReport says to whom SendGroup encrypted a message, and whom it
// could not.
type GroupReport struct {
	ID         string
	Room       jid.JID
	Recipients []GroupParticipant
	Self       []pgp.Fingerprint
	// Missing are occupants and affiliates without a usable key (or
	// without a known real JID): they cannot read the message.
	Missing []GroupParticipant
}

// GroupRecipients says who would be able to read a message to the room
// now: every occupant and affiliate (but the account) with their usable
// announced keys, fetched as Send does, and those without. The lists of
// affiliates the room let Join read are read again.
func (rs *Rooms) GroupRecipients(ctx context.Context, r *Room) (*GroupReport, error) {
	ctx, cancel := rs.c.Request(ctx)
	defer cancel()
	r.mu.Lock()
	state, semi, lists, why := r.state, r.semi, r.lists, r.leftWhy
	r.mu.Unlock()
	if state != roomJoined {
		if why == "" {
			why = "not joined"
		}
		return nil, fmt.Errorf("%w %s (%s)", ErrNotInRoom, r.JID, why)
	}
	if semi != "" {
		return nil, &SemiAnonymousError{Room: r.JID, Why: semi}
	}
	if len(lists) > 0 {
		rs.readAffiliations(ctx, r, lists)
	}
	rep := &GroupReport{Room: r.JID}
	// Everyone's keys at once: the fetches go out together.
	parts := r.participants(rs.c.JID())
	var jids []jid.JID
	for _, p := range parts {
		if !p.JID.Equal(jid.JID{}) {
			jids = append(jids, p.JID)
		}
	}
	keys := rs.c.UsableKeysAll(ctx, jids)
	for _, p := range parts {
		if p.JID.Equal(jid.JID{}) {
			p.Reason = "the room does not give their real JID"
			rep.Missing = append(rep.Missing, p)
			continue
		}
		ks, err := keys[0].Keys, keys[0].Err
		keys = keys[1:]
		var nk *ox.NoUsableKeyError
		switch {
		case errors.As(err, &nk):
			p.Reason = strings.Join(nk.Reasons, "; ")
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			p.Reason = err.Error()
		}
		if err != nil {
			rep.Missing = append(rep.Missing, p)
			continue
		}
		p.Keys = ks
		rep.Recipients = append(rep.Recipients, p)
	}
	return rep, nil
}

// SendGroup sends body to the room as an XEP-0374 message of type
// groupchat: a <signcrypt/> with <to/> the room's bare JID, encrypted to
// every usable announced key of every occupant and affiliate (see
// GroupRecipients) and of the account. It returns once the room has
// reflected the message (XEP-0045 §7.4), or with the room's error.
// Participants without a usable key are listed in the report's Missing;
// when nobody but the account has one, nothing is sent (the error is
// ErrNoGroupRecipients, and the report says why). A connection lost before
// the message was written whole is an *ox.NotSentError (sending it again
// is safe); one lost after, before the echo, an *UnknownOutcomeError
// (Confirm).
func (rs *Rooms) SendGroup(ctx context.Context, r *Room, body string) (*GroupReport, error) {
	return rs.SendPayload(ctx, r, element.BodyPayload(body))
}

// SendPayload is SendGroup with the <signcrypt/>'s payload given whole.
func (rs *Rooms) SendPayload(ctx context.Context, r *Room, payload []byte) (*GroupReport, error) {
	ctx, cancel := rs.c.Request(ctx)
	defer cancel()
	rep, err := rs.GroupRecipients(ctx, r)
	if err != nil {
		return nil, rs.c.NotSent(ctx, r.JID, err)
	}
	if len(rep.Recipients) == 0 {
		return rep, fmt.Errorf("%w, so nothing was sent to %s", ErrNoGroupRecipients, r.JID)
	}
	var keys []pgp.Fingerprint
	for _, p := range rep.Recipients {
		keys = append(keys, p.Keys...)
	}
	r.mu.Lock()
	nick := r.nick
	r.mu.Unlock()
	sealed, err := rs.c.Seal(ctx, []jid.JID{r.JID}, keys, payload)
	if err != nil {
		return nil, rs.c.NotSent(ctx, r.JID, err)
	}
	rep.Self = sealed.Self
	ct := sealed.OpenPGP
	rep.ID = ox.NewID()
	echo := make(chan struct{})
	r.mu.Lock()
	r.echo[rep.ID] = echo
	r.mu.Unlock()
	unknown := false // the echo stays awaited, by Confirm
	defer func() {
		if !unknown {
			r.forget(rep.ID)
		}
	}()

	// The room answers an error to a message it does not take (not an
	// occupant, no voice): the session hands a type='error' reply with
	// the same id to SendMessageElement.
	sctx, cancel := context.WithTimeout(ctx, echoTimeout)
	defer cancel()
	refused := make(chan error, 1)
	go func() {
		resp, err := rs.c.Session.SendMessageElement(sctx, ox.MessagePayload(ct), stanza.Message{To: r.JID, Type: stanza.GroupChatMessage, ID: rep.ID})
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				// Not the wait for a reply but the write failed: the
				// message never reached the server whole.
				err = &notWritten{err}
			}
			refused <- err
			return
		}
		defer resp.Close()
		if _, err := resp.Token(); err != nil {
			refused <- err
			return
		}
		serr, err := stanza.UnmarshalError(resp)
		if err != nil {
			refused <- err
			return
		}
		refused <- serr
	}()
	var nw *notWritten
	select {
	case <-echo:
		return rep, nil
	case err := <-refused:
		if errors.As(err, &nw) {
			break
		}
		if sctx.Err() != nil {
			break
		}
		var se stanza.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("muc: %s refused the message from %s: %s", r.JID, nick, stanzaErrorText(se))
		}
		return nil, fmt.Errorf("muc: send to %s: %w", r.JID, err)
	case <-sctx.Done():
		// SendMessageElement ends with sctx: whether it had written the
		// message decides what the loss means.
		select {
		case err := <-refused:
			errors.As(err, &nw)
		case <-time.After(time.Second):
		}
	}
	if nw != nil {
		// Sending it again is safe, as ox.Client.Send's NotSentError.
		return nil, fmt.Errorf("%w: %w", &ox.NotSentError{To: r.JID}, rs.c.RequestError(ctx, nw.err))
	}
	if ctx.Err() != nil {
		err := rs.c.RequestError(ctx, ctx.Err())
		if errors.Is(err, ox.ErrConnectionLost) {
			// Written, or about to be, when the connection went: a
			// session that takes the lost one over reads the room's
			// echo if the room had it (Confirm).
			unknown = true
			return nil, &UnknownOutcomeError{Room: r.JID, ID: rep.ID, Err: err, Report: rep, room: r, echo: echo}
		}
		return nil, err
	}
	return nil, fmt.Errorf("muc: %s did not reflect the message within %v, so it may not have reached the room", r.JID, echoTimeout)
}

// notWritten: the connection failed while a group message was being
// written.
type notWritten struct{ err error }

func (e *notWritten) Error() string { return e.err.Error() }

// forget stops awaiting the echo of the message id.
func (r *Room) forget(id string) {
	r.mu.Lock()
	delete(r.echo, id)
	r.mu.Unlock()
}

// UnknownOutcomeError: the connection was lost after a group message was
// sent and before the room reflected it, so it may have reached the room.
// Sending it again may show it twice: Confirm settles it on a session that
// takes the lost one over (stream resumption, XEP-0198 §5).
type UnknownOutcomeError struct {
	Room jid.JID
	ID   string // the message's id
	Err  error  // why it is unknown
	// Report is what SendPayload would have returned had the room
	// reflected it.
	Report *GroupReport

	room *Room
	echo chan struct{} // closed at the room's echo
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("muc: the message to %s may have reached the room: the connection was lost before the room reflected it (%v)", e.Room, e.Err)
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// Forget stops awaiting the room's echo of the message: for a caller that
// gives up settling it without a Confirm that ends (which forgets it too).
func (e *UnknownOutcomeError) Forget() {
	if e != nil && e.room != nil {
		e.room.forget(e.ID)
	}
}

// Confirm settles the outcome of a group message whose send ended in e, on
// the session rs serves now. It is nil once the room has reflected the
// message: a session that took the lost one over (Rooms.TakeOver) reads
// the echo the lost connection did not, whether the room had the message
// before the cut or ox sent it again on resuming. It is e when this
// session cannot tell (a new login, which is in no room the lost one was
// in, or no echo within the room's time), and an error that matches
// ox.ErrConnectionLost when this session was lost too while it waited: a
// later one that takes it over may tell.
func (rs *Rooms) Confirm(ctx context.Context, e *UnknownOutcomeError) error {
	if e == nil || e.room == nil {
		return e
	}
	if rs.room(e.Room) != e.room {
		e.room.forget(e.ID)
		return e
	}
	select {
	case <-e.echo:
		e.room.forget(e.ID)
		return nil
	default:
	}
	ctx, cancel := rs.c.Request(ctx)
	defer cancel()
	wait := time.NewTimer(echoTimeout)
	defer wait.Stop()
	select {
	case <-e.echo:
		e.room.forget(e.ID)
		return nil
	case <-wait.C:
	case <-ctx.Done():
		if err := rs.c.RequestError(ctx, ctx.Err()); errors.Is(err, ox.ErrConnectionLost) {
			return err
		}
	}
	e.room.forget(e.ID)
	return e
}

func stanzaErrorText(se stanza.Error) string {
	s := string(se.Condition)
	for _, t := range se.Text {
		if t != "" {
			return s + ": " + t
		}
	}
	return s
}

// participants are the room's occupants and affiliates other than me, one
// per real bare JID; occupants without a real JID one per nick.
func (r *Room) participants(me jid.JID) []GroupParticipant {
	r.mu.Lock()
	defer r.mu.Unlock()
	byJID := map[string]*GroupParticipant{}
	var out []*GroupParticipant
	for _, o := range r.occupants {
		if o.JID.Equal(jid.JID{}) {
			out = append(out, &GroupParticipant{Nicks: []string{o.Nick}, Affiliation: o.Affiliation})
			continue
		}
		b := o.JID.Bare()
		if b.Equal(me) {
			continue
		}
		p, ok := byJID[b.String()]
		if !ok {
			p = &GroupParticipant{JID: b, Affiliation: o.Affiliation}
			byJID[b.String()] = p
			out = append(out, p)
		}
		p.Nicks = append(p.Nicks, o.Nick)
	}
	for j, a := range r.affiliations {
		if p, ok := byJID[j]; ok {
			p.Affiliation = a
			continue
		}
		b, err := jid.Parse(j)
		if err != nil || b.Equal(me) {
			continue
		}
		p := &GroupParticipant{JID: b, Affiliation: a}
		byJID[j] = p
		out = append(out, p)
	}
	res := make([]GroupParticipant, len(out))
	for i, p := range out {
		sort.Strings(p.Nicks)
		res[i] = *p
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Name() < res[j].Name() })
	return res
}

// mucHandlers are the Handler's registrations for rooms: presence from
// rooms (occupants coming and going, our own join and leave, refusals),
// group chat OX messages, the subject (the end of the replayed history)
// and status messages (a room changing its configuration).
func (rs *Rooms) handlers() []mux.Option {
	openpgp := xml.Name{Space: element.NS, Local: "openpgp"}
	userX := xml.Name{Space: nsMUCUser, Local: "x"}
	return []mux.Option{
		mux.PresenceFunc(stanza.AvailablePresence, userX, rs.onRoomPresence),
		mux.PresenceFunc(stanza.UnavailablePresence, userX, rs.onRoomPresence),
		mux.PresenceFunc(stanza.ErrorPresence, xml.Name{Local: "error"}, rs.onRoomPresence),
		mux.MessageFunc(stanza.GroupChatMessage, openpgp, rs.onGroupMessage),
		mux.MessageFunc(stanza.GroupChatMessage, xml.Name{Local: "subject"}, rs.onRoomSubject),
		mux.MessageFunc(stanza.GroupChatMessage, userX, rs.onRoomStatus),
	}
}

type mucItem struct {
	JID         string `xml:"jid,attr"`
	Nick        string `xml:"nick,attr"`
	Affiliation string `xml:"affiliation,attr"`
	Role        string `xml:"role,attr"`
}

type mucUserX struct {
	Items  []mucItem `xml:"item"`
	Status []struct {
		Code int `xml:"code,attr"`
	} `xml:"status"`
	Destroy *struct {
		Reason string `xml:"reason"`
	} `xml:"destroy"`
}

func (x *mucUserX) has(code int) bool {
	for _, s := range x.Status {
		if s.Code == code {
			return true
		}
	}
	return false
}

type stanzaErrorXML struct {
	Type       string `xml:"type,attr"`
	Conditions []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	} `xml:",any"`
}

func (e *stanzaErrorXML) condition() (cond, text string) {
	for _, c := range e.Conditions {
		if c.XMLName.Space != "urn:ietf:params:xml:ns:xmpp-stanzas" {
			continue
		}
		if c.XMLName.Local == "text" {
			text = c.Text
		} else if cond == "" {
			cond = c.XMLName.Local
		}
	}
	if cond == "" {
		cond = "undefined-condition"
	}
	return cond, text
}

type roomPresence struct {
	From  string          `xml:"from,attr"`
	Type  string          `xml:"type,attr"`
	X     []mucUserX      `xml:"http://jabber.org/protocol/muc#user x"`
	Error *stanzaErrorXML `xml:"error"`
}

// onRoomPresence follows a room's presence on the session's goroutine, so
// that each group message is attributed with the occupants as they were
// when it arrived.
func (rs *Rooms) onRoomPresence(_ stanza.Presence, t xmlstream.TokenReadEncoder) error {
	raw, err := pep.ReadStanza(t)
	if err != nil {
		return nil
	}
	var p roomPresence
	if err := xml.Unmarshal(raw, &p); err != nil {
		return nil
	}
	from, err := jid.Parse(p.From)
	if err != nil {
		return nil
	}
	r := rs.room(from)
	if r == nil {
		return nil
	}
	if r.presence(from.Resourcepart(), &p) {
		rs.dropRoom(r)
		r.mu.Lock()
		why := r.leftWhy
		r.mu.Unlock()
		rs.mu.Lock()
		f := rs.onRemoved
		rs.mu.Unlock()
		if why != "left" && f != nil {
			f(r.JID, why)
		}
	}
	rs.release(r)
	return nil
}

// presence applies one presence from the room; it reports whether the
// room put the account out.
func (r *Room) presence(nick string, p *roomPresence) (gone bool) {
	r.mu.Lock()
	if p.Type == string(stanza.ErrorPresence) {
		if r.state == roomJoining && r.asked && p.Error != nil {
			cond, text := p.Error.condition()
			select {
			case r.joinErr <- &JoinError{Room: r.JID, Nick: r.nick, Condition: cond, Text: text}:
			default:
			}
		}
		r.mu.Unlock()
		return false
	}
	if nick == "" || len(p.X) == 0 {
		r.mu.Unlock()
		return false
	}
	x := &p.X[0]
	var item mucItem
	if len(x.Items) > 0 {
		item = x.Items[0]
	}
	self := x.has(110) || nick == r.nick
	real, _ := jid.Parse(item.JID)
	if item.JID == "" {
		real = jid.JID{}
	}
	if !real.Equal(jid.JID{}) {
		switch item.Affiliation {
		case "owner", "admin", "member":
			r.affiliations[real.Bare().String()] = item.Affiliation
		case "none", "outcast":
			delete(r.affiliations, real.Bare().String())
		}
	}
	if p.Type == string(stanza.UnavailablePresence) {
		delete(r.occupants, nick)
		if x.has(303) { // a nick change: the new nick's presence follows
			if self && item.Nick != "" {
				r.nick = item.Nick
			}
			r.mu.Unlock()
			return false
		}
		if !self {
			r.mu.Unlock()
			return false
		}
		why := "left"
		switch {
		case x.Destroy != nil:
			why = "the room was destroyed"
			if x.Destroy.Reason != "" {
				why += ": " + x.Destroy.Reason
			}
		case x.has(301):
			why = "banned from the room"
		case x.has(307):
			why = "kicked from the room"
		case x.has(321):
			why = "removed: no longer a member"
		case x.has(322):
			why = "removed: the room became members-only"
		case x.has(332):
			why = "removed: the service shut down"
		}
		r.mu.Unlock()
		r.markLeft(why)
		return true
	}
	r.occupants[nick] = Occupant{Nick: nick, JID: real, Affiliation: item.Affiliation, Role: item.Role}
	if self && r.state == roomJoining && r.asked {
		r.nick = nick
		r.state = roomJoined
		r.history = true
		r.nonAnonymous = x.has(100)
		r.created = x.has(201)
		r.mu.Unlock()
		close(r.joined)
		return false
	}
	r.mu.Unlock()
	return false
}

// onRoomSubject: the subject ends the replayed history (XEP-0045 §7.2.15).
func (rs *Rooms) onRoomSubject(m stanza.Message, _ xmlstream.TokenReadEncoder) error {
	if r := rs.room(m.From); r != nil {
		r.mu.Lock()
		joined := r.state == roomJoined
		r.mu.Unlock()
		if joined {
			r.endHistory()
		}
	}
	return nil
}

// onRoomStatus follows status messages from the room itself (XEP-0045
// §10.2.1): 172 it turned non-anonymous, 173 semi-anonymous, 174 fully
// anonymous; and affiliation changes of people not in the room.
func (rs *Rooms) onRoomStatus(m stanza.Message, t xmlstream.TokenReadEncoder) error {
	if m.From.Resourcepart() != "" {
		return nil
	}
	r := rs.room(m.From)
	if r == nil {
		return nil
	}
	raw, err := pep.ReadStanza(t)
	if err != nil {
		return nil
	}
	var msg struct {
		X []mucUserX `xml:"http://jabber.org/protocol/muc#user x"`
	}
	if xml.Unmarshal(raw, &msg) != nil || len(msg.X) == 0 {
		return nil
	}
	x := &msg.X[0]
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case x.has(173):
		r.semi = "it turned semi-anonymous (status code 173)"
	case x.has(174):
		r.semi = "it turned fully anonymous (status code 174)"
	case x.has(172):
		r.semi, r.nonAnonymous = "", true
	}
	for _, it := range x.Items {
		j, err := jid.Parse(it.JID)
		if err != nil || it.JID == "" {
			continue
		}
		switch it.Affiliation {
		case "owner", "admin", "member":
			r.affiliations[j.Bare().String()] = it.Affiliation
		case "none", "outcast":
			delete(r.affiliations, j.Bare().String())
		}
	}
	return nil
}

// groupExtras are the parts of a group message that the room, not the
// sender, vouches for (when they come in the replayed history).
type groupExtras struct {
	From   string `xml:"from,attr"`
	ID     string `xml:"id,attr"`
	Delays []struct {
		From  string `xml:"from,attr"`
		Stamp string `xml:"stamp,attr"`
	} `xml:"urn:xmpp:delay delay"`
	Addresses []struct {
		Address []struct {
			Type string `xml:"type,attr"`
			JID  string `xml:"jid,attr"`
		} `xml:"address"`
	} `xml:"http://jabber.org/protocol/address addresses"`
	X         []mucUserX `xml:"http://jabber.org/protocol/muc#user x"`
	StanzaIDs []struct {
		By string `xml:"by,attr"`
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:sid:0 stanza-id"`
}

// stanzaID is the room's own stanza-id on the message (XEP-0359 §3): its
// archive id; one the sender wrote does not count.
func (g *groupExtras) stanzaID(room jid.JID) string {
	for _, s := range g.StanzaIDs {
		if by, err := jid.Parse(s.By); err == nil && by.Equal(room) {
			return s.ID
		}
	}
	return ""
}

// roomDelay is the room's own <delay/> stamp on a replayed message; zero
// if there is none.
func (g *groupExtras) roomDelay(room jid.JID) time.Time {
	var t time.Time
	for _, d := range g.Delays {
		if f, err := jid.Parse(d.From); err == nil && f.Equal(room) {
			if s, err := element.ParseTime(d.Stamp); err == nil {
				t = s
			}
		}
	}
	return t
}

// historyJID is the real JID that the room wrote on a replayed message:
// an XEP-0033 ofrom address (XEP-0045 §7.2.15), or Prosody's muc#user
// item, which it appends after whatever the sender put there.
func (g *groupExtras) historyJID() jid.JID {
	for _, as := range g.Addresses {
		for _, a := range as.Address {
			if a.Type == "ofrom" {
				if j, err := jid.Parse(a.JID); err == nil && j.Localpart() != "" {
					return j
				}
			}
		}
	}
	for i := len(g.X) - 1; i >= 0; i-- {
		for _, it := range g.X[i].Items {
			if j, err := jid.Parse(it.JID); err == nil && it.JID != "" && j.Localpart() != "" {
				return j
			}
		}
	}
	return jid.JID{}
}

// onGroupMessage attributes a group OX message as it comes off the
// session, with the room's state at that moment (the real JID behind the
// nick; for a message the room replays on join, the room's delay stamp and
// the real JID the room wrote on it), tells SendPayload that the room
// reflected its message, and hands it to the pipeline. One that cannot be
// attributed goes to the pipeline too, to be shown as rejected.
func (rs *Rooms) onGroupMessage(_ stanza.Message, t xmlstream.TokenReadEncoder) error {
	raw, err := pep.ReadStanza(t)
	if err != nil {
		return nil // a broken stanza must not end the session
	}
	rs.enqueue(raw)
	return nil
}

// enqueue attributes a live group message and hands it to the pipeline;
// one for a room being joined waits (release) unless too many do.
func (rs *Rooms) enqueue(raw []byte) {
	in, err := rs.attribute(raw, true)
	if errors.Is(err, errHeld) {
		return
	}
	if err != nil {
		in = refused(raw, err)
	}
	rs.c.Enqueue(in)
}

// refused is a group message that cannot be attributed, for the pipeline
// to show as rejected, with the room and nick it came from.
func refused(raw []byte, why error) ox.Incoming {
	in := ox.Incoming{Raw: raw, Origin: ox.OriginLive, Refused: why}
	var head struct {
		From string `xml:"from,attr"`
	}
	if xml.Unmarshal(raw, &head) == nil {
		if from, perr := jid.Parse(head.From); perr == nil && from.Resourcepart() != "" {
			in.Group = &ox.GroupSender{Room: from.Bare(), Nick: from.Resourcepart()}
		}
	}
	return in
}

// errHeld: attribute kept a group message until its room's join ends.
var errHeld = errors.New("muc: held until the room is joined")

// maxHeld bounds the group messages held for one room while it is joined.
const maxHeld = 1000

// attributeLater attributes a group message that was not seen arriving
// (one handed to Client.Receive) with the rooms as they are now.
func (rs *Rooms) attributeLater(raw []byte) (*ox.GroupSender, time.Time, error) {
	in, err := rs.attribute(raw, false)
	if err != nil {
		return nil, time.Time{}, err
	}
	return in.Group, in.Delivered, nil
}

// attribute finds who wrote a group message, with the room's state now.
func (rs *Rooms) attribute(raw []byte, live bool) (ox.Incoming, error) {
	var g groupExtras
	if err := xml.Unmarshal(raw, &g); err != nil {
		return ox.Incoming{}, fmt.Errorf("muc: unreadable group message: %w", err)
	}
	from, err := jid.Parse(g.From)
	if err != nil {
		return ox.Incoming{}, fmt.Errorf("muc: a group message with an invalid from %q", g.From)
	}
	room := from.Bare()
	rm := rs.room(room)
	if rm == nil {
		return ox.Incoming{}, fmt.Errorf("muc: a group message from %s, a room ox is not in", room)
	}
	nick := from.Resourcepart()
	if nick == "" {
		return ox.Incoming{}, fmt.Errorf("muc: a group message from room %s itself, not from an occupant", room)
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if live && nick == rm.nick && g.ID != "" {
		if ch, ok := rm.echo[g.ID]; ok {
			close(ch)
			delete(rm.echo, g.ID)
		}
	}
	if rm.state == roomJoining {
		if live && len(rm.held) < maxHeld {
			rm.held = append(rm.held, raw)
			return ox.Incoming{}, errHeld
		}
		return ox.Incoming{}, fmt.Errorf("muc: a group message from %s before ox had joined it", from)
	}
	in := ox.Incoming{Raw: raw, Origin: ox.OriginLive, Delivered: rs.now(), Group: &ox.GroupSender{Room: room, Nick: nick, StanzaID: g.stanzaID(room)}}
	stamp := g.roomDelay(room)
	if rm.history && !stamp.IsZero() {
		// The replayed history: the people who wrote may have left, or
		// their nick be someone else's by now.
		in.Origin, in.Delivered = ox.OriginRoomHistory, stamp
		in.Group.Sender = g.historyJID()
	}
	if in.Group.Sender.Equal(jid.JID{}) {
		o, ok := rm.occupants[nick]
		switch {
		case !ok:
			return ox.Incoming{}, fmt.Errorf("muc: %s is not an occupant of %s, so who wrote the message is unknown", nick, room)
		case o.JID.Equal(jid.JID{}):
			return ox.Incoming{}, fmt.Errorf("muc: %s does not give %s's real JID, so the message cannot be verified", room, nick)
		}
		in.Group.Sender = o.JID
	}
	return in, nil
}

func (rs *Rooms) now() time.Time {
	if rs.c.Now != nil {
		return rs.c.Now()
	}
	return time.Now()
}
