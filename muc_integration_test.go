package ox_test

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/pgp"
)

// roomIQ sends an owner or admin request to a room (XEP-0045 §9, §10).
func roomIQ(ctx context.Context, s *xmpp.Session, room jid.JID, ns string, inner xml.TokenReader) error {
	return s.UnmarshalIQElement(ctx, xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: ns, Local: "query"}}), stanza.IQ{Type: stanza.SetIQ, To: room}, nil)
}

func el(name string, attrs map[string]string, inner ...xml.TokenReader) xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Local: name}}
	for k, v := range attrs {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: k}, Value: v})
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), start)
}

// configureRoom submits the owner's configuration form with just the
// fields given (XEP-0045 §10.2); Prosody keeps the others.
func configureRoom(ctx context.Context, s *xmpp.Session, room jid.JID, fields map[string]string) error {
	fs := []xml.TokenReader{el("field", map[string]string{"var": "FORM_TYPE"}, el("value", nil, xmlstream.Token(xml.CharData("http://jabber.org/protocol/muc#roomconfig"))))}
	for k, v := range fields {
		fs = append(fs, el("field", map[string]string{"var": k}, el("value", nil, xmlstream.Token(xml.CharData(v)))))
	}
	form := xmlstream.Wrap(xmlstream.MultiReader(fs...), xml.StartElement{Name: xml.Name{Space: "jabber:x:data", Local: "x"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}}})
	return roomIQ(ctx, s, room, "http://jabber.org/protocol/muc#owner", form)
}

// waitOccupants waits until the room shows n occupants to r's account.
func waitOccupants(t *testing.T, r *muc.Room, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.Occupants()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s shows %d occupants, want %d: %+v", r.JID, len(r.Occupants()), n, r.Occupants())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// byBody reads n messages from in and returns them by body (rejected ones
// under "!" + their reason).
func byBody(t *testing.T, in inbox, n int, what string) map[string]*ox.Message {
	t.Helper()
	out := map[string]*ox.Message{}
	for i := 0; i < n; i++ {
		m := in.next(t, what)
		k := m.Body
		if m.Err != nil {
			k = "!" + m.Nick + ": " + m.Err.Error()
		}
		out[k] = m
	}
	return out
}

// A group of three with keys, one occupant without any key, and a member
// who is away: everyone's messages reach and are verified by the others
// with the sender's real JID; the keyless occupant is named; the member
// reads the history later; semi-anonymous rooms are refused.
func TestIntegrationGroupChat(t *testing.T) {
	onEachServer(t, testIntegrationGroupChat, "alice", "bob", "carol", "dave", "erin")
}

func testIntegrationGroupChat(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	bob, bobIn := listening(ctx, t, srv, "bob")
	carol, carolIn := listening(ctx, t, srv, "carol")
	dave := newDevice(ctx, t, srv, "dave", false, nil) // no key at all
	erin, erinIn := listening(ctx, t, srv, "erin")
	roomJID := jid.MustParse("oxroom@" + srv.MUCDomain)

	ar, err := alice.Rooms.Join(ctx, roomJID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ar.Nick != "alice" || !ar.JID.Equal(roomJID) {
		t.Fatalf("room %+v", ar)
	}
	// erin is a member, away when the others talk.
	if err := roomIQ(ctx, alice.Session, roomJID, "http://jabber.org/protocol/muc#admin", el("item", map[string]string{"affiliation": "member", "jid": "erin@localhost"})); err != nil {
		t.Fatal(err)
	}
	br, err := bob.Rooms.Join(ctx, roomJID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	cr, err := carol.Rooms.Join(ctx, roomJID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.Rooms.Join(ctx, roomJID, "dave"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*muc.Room{ar, br, cr} {
		waitOccupants(t, r, 4)
	}
	for _, o := range cr.Occupants() {
		if o.JID.Bare().String() != o.Nick+"@localhost" {
			t.Errorf("carol sees %+v", o)
		}
	}
	if _, err := bob.Rooms.Join(ctx, roomJID, "bob2"); err == nil {
		t.Error("joined the same room twice")
	}

	type party struct {
		d    *device
		r    *muc.Room
		in   inbox
		nick string
	}
	group := []party{{alice, ar, aliceIn, "alice"}, {bob, br, bobIn, "bob"}, {carol, cr, carolIn, "carol"}}
	for _, s := range group {
		body := "hello from " + s.nick + " <&>"
		rep, err := s.d.Rooms.SendGroup(ctx, s.r, body)
		if err != nil {
			t.Fatalf("%s: %v", s.nick, err)
		}
		// dave, in the room without a key, is named; the others got it.
		if len(rep.Missing) != 1 || len(rep.Missing[0].Nicks) != 1 || rep.Missing[0].Nicks[0] != "dave" || !strings.Contains(rep.Missing[0].Reason, "no keys published") {
			t.Errorf("%s: missing %+v", s.nick, rep.Missing)
		}
		want := 2
		if s.nick == "alice" {
			want = 3 // the owner reads the member list: erin too
		}
		if len(rep.Recipients) != want || len(rep.Self) != 1 {
			t.Errorf("%s: recipients %+v, self %v", s.nick, rep.Recipients, rep.Self)
		}
		for _, o := range group {
			m := o.in.next(t, o.nick+" reads "+s.nick)
			if m.Err != nil || m.Body != body || m.Type != "groupchat" {
				t.Fatalf("%s got %+v (err %v)", o.nick, m, m.Err)
			}
			if !m.From.Bare().Equal(s.d.jid) || m.Nick != s.nick || !m.Room.Equal(roomJID) || !m.To.Equal(roomJID) || m.Signer != s.d.key.Fingerprint {
				t.Errorf("%s reads %s's message as %+v", o.nick, s.nick, m)
			}
			if m.Sent != (o.nick == s.nick) {
				t.Errorf("%s: Sent %v for %s's message", o.nick, m.Sent, s.nick)
			}
		}
	}

	// Nobody else with a key: nothing is sent.
	lonely := jid.MustParse("lonely@" + srv.MUCDomain)
	lr, err := alice.Rooms.Join(ctx, lonely, "alice")
	if err != nil {
		t.Fatal(err)
	}
	dl, err := dave.Rooms.Join(ctx, lonely, "dave")
	if err != nil {
		t.Fatal(err)
	}
	waitOccupants(t, lr, 2)
	if rep, err := alice.Rooms.SendGroup(ctx, lr, "nobody can read this"); !errors.Is(err, muc.ErrNoGroupRecipients) || rep == nil || len(rep.Missing) != 1 {
		t.Fatalf("send to a room of keyless people: %+v %v", rep, err)
	}
	if _, err := dave.Rooms.SendGroup(ctx, dl, "no key"); err == nil {
		t.Error("dave sent without a key")
	}

	// The member comes later and reads the history: alice's message (alice
	// could read the member list, so it was encrypted to erin too) with
	// alice's real JID and the time it was sent; bob's and carol's are
	// rejected with the reason, not dropped.
	if err := bob.Rooms.Leave(ctx, br); err != nil {
		t.Fatal(err)
	}
	if br.Joined() {
		t.Error("bob still joined after Leave")
	}
	waitOccupants(t, ar, 3)
	er, err := erin.Rooms.Join(ctx, roomJID, "erin")
	if err != nil {
		t.Fatal(err)
	}
	hist := byBody(t, erinIn, 3, "history")
	m := hist["hello from alice <&>"]
	if m == nil || !m.From.Bare().Equal(alice.jid) || m.Nick != "alice" || m.StanzaID == "" || time.Since(m.Delivered) > time.Minute {
		t.Fatalf("erin's history: %+v", hist)
	}
	if len(hist) != 3 {
		t.Errorf("erin's history: %+v", hist)
	}
	for k, m := range hist {
		if m.Err != nil && (m.Nick == "alice" || !m.From.Bare().Equal(srv.JIDParse(t, m.Nick))) {
			t.Errorf("history: %q %+v", k, m)
		}
	}
	// Rejoining replays the history: nothing comes twice.
	if err := erin.Rooms.Leave(ctx, er); err != nil {
		t.Fatal(err)
	}
	if _, err := erin.Rooms.Join(ctx, roomJID, "erin"); err != nil {
		t.Fatal(err)
	}
	erinIn.none(t, time.Second)

	// A semi-anonymous room is refused, and left.
	semi := jid.MustParse("semi@" + srv.MUCDomain)
	sr, err := alice.Rooms.Join(ctx, semi, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := configureRoom(ctx, alice.Session, semi, map[string]string{"muc#roomconfig_whois": "moderators"}); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Rooms.Join(ctx, semi, "bob")
	var se *muc.SemiAnonymousError
	if !errors.Is(err, muc.ErrSemiAnonymous) || !errors.As(err, &se) || !strings.Contains(err.Error(), "semi-anonymous") {
		t.Fatalf("joining a semi-anonymous room: %v", err)
	}
	t.Log(err)
	waitOccupants(t, sr, 1) // bob left again
	// alice, in it when it turned semi-anonymous (status 173), stops too.
	if _, err := alice.Rooms.SendGroup(ctx, sr, "x"); !errors.Is(err, muc.ErrSemiAnonymous) {
		t.Fatalf("sending to a room that turned semi-anonymous: %v", err)
	}

	// Receive of a group message from a room ox is not in: rejected.
	ct, err := alice.Backend.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: alice.key.Fingerprint, Recipients: []pgp.Fingerprint{alice.key.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`<message xmlns='jabber:client' type='groupchat' from='elsewhere@` + srv.MUCDomain + `/mallory' to='bob@localhost/x' id='1'><openpgp xmlns='urn:xmpp:openpgp:0'>` + element.MarshalOpenPGPText(ct) + `</openpgp></message>`)
	if m, err := bob.Receive(ctx, raw); err != nil || m == nil || m.Err == nil || !strings.Contains(m.Err.Error(), "not in") {
		t.Errorf("a message from a room not joined: %+v %v", m, err)
	}
}

// A group message whose connection broke before it was written is not
// sent, and says so (*ox.NotSentError with ox.ErrConnectionLost): sending
// it again is safe, which the daemon's roomSend does on its next
// connection. Until now it was a plain error, or a "may have reached the
// room" that no session could settle.
func TestIntegrationGroupSendNotWritten(t *testing.T) {
	onEachServer(t, testIntegrationGroupSendNotWritten, "alice", "bob")
}

func testIntegrationGroupSendNotWritten(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	bob, bobIn := listening(ctx, t, srv, "bob")
	roomJID := jid.MustParse("unwritten@" + srv.MUCDomain)
	ar, err := alice.Rooms.Join(ctx, roomJID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Rooms.Join(ctx, roomJID, "bob"); err != nil {
		t.Fatal(err)
	}
	waitOccupants(t, ar, 2)
	// One that goes: alice has bob's key, so the next needs nothing from
	// the server before it is written.
	if _, err := alice.Rooms.SendGroup(ctx, ar, "first"); err != nil {
		t.Fatal(err)
	}
	if m := bobIn.next(t, "the first message"); m.Err != nil || m.Body != "first" {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}
	alice.Session.Conn().Close()
	_, err = alice.Rooms.SendGroup(ctx, ar, "never written")
	var ns *ox.NotSentError
	if !errors.As(err, &ns) || !errors.Is(err, ox.ErrConnectionLost) || !ns.To.Equal(roomJID) {
		t.Fatalf("send on a broken connection: %v; want it not sent, the connection lost", err)
	}
	var uo *muc.UnknownOutcomeError
	if errors.As(err, &uo) {
		t.Errorf("%v: also of unknown outcome", err)
	}
	bobIn.none(t, 200*time.Millisecond)
}
