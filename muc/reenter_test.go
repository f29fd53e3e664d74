package muc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// A room registered for a session an earlier process left (Reenter) is
// among the account's seats; its live group messages are held, not
// refused, until the join this process asks for ends (a self-presence
// that comes before the join was asked does not end it), at most maxHeld
// of them; a message handed in later (not live) is not held; the room is
// claimed by one Join only.
func TestReenterHoldsUntilJoined(t *testing.T) {
	room := jid.MustParse("r@conference.example.org")
	rs := &Rooms{m: map[string]*Room{}}
	var seen [][]Seat
	rs.OnChange(func(s []Seat) { seen = append(seen, s) })
	rs.Reenter([]Seat{{Room: room, Nick: "alice"}})
	if got := fmt.Sprint(rs.Seats()); got != fmt.Sprint([]Seat{{Room: room, Nick: "alice"}}) {
		t.Fatalf("seats %s", got)
	}
	if len(seen) != 2 || len(seen[1]) != 1 {
		t.Errorf("OnChange saw %v, want no rooms then the one", seen)
	}
	msg := []byte(`<message xmlns="jabber:client" from="r@conference.example.org/bob" type="groupchat" id="m1"><body>x</body></message>`)
	if _, err := rs.attribute(msg, true); !errors.Is(err, errHeld) {
		t.Fatalf("a live message while the room is joined again: %v, want it held", err)
	}
	if _, err := rs.attribute(msg, false); err == nil || errors.Is(err, errHeld) {
		t.Errorf("a message handed in later: %v, want refused", err)
	}
	r := rs.room(room)
	self := func() {
		var p roomPresence
		if err := xml.Unmarshal([]byte(`<presence from="r@conference.example.org/alice"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" jid="alice@example.org/ox"/><status code="110"/></x></presence>`), &p); err != nil {
			t.Fatal(err)
		}
		r.presence("alice", &p)
	}
	self() // the session's presence, sent again on resuming: not the join's end
	if r.Joined() {
		t.Fatal("joined before the join was asked")
	}
	if rs.claim(room) != r || rs.claim(room) != nil {
		t.Fatal("the room is not claimed once")
	}
	self()
	if !r.Joined() || len(r.held) != 1 {
		t.Fatalf("joined %v, %d held", r.Joined(), len(r.held))
	}

	// At most maxHeld wait.
	other := jid.MustParse("s@conference.example.org")
	rs.Reenter([]Seat{{Room: other, Nick: "alice"}})
	many := []byte(strings.ReplaceAll(string(msg), "r@", "s@"))
	for i := 0; i < maxHeld; i++ {
		if _, err := rs.attribute(many, true); !errors.Is(err, errHeld) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := rs.attribute(many, true); err == nil || errors.Is(err, errHeld) {
		t.Errorf("message %d: %v, want refused", maxHeld+1, err)
	}
}

// Union keeps a's seats and adds b's in rooms a has none in.
func TestUnion(t *testing.T) {
	r1, r2 := jid.MustParse("a@conference.example.org"), jid.MustParse("b@conference.example.org")
	got := Union([]Seat{{Room: r1, Nick: "x"}}, []Seat{{Room: r1, Nick: "y"}, {Room: r2, Nick: "z"}})
	if want := []Seat{{Room: r1, Nick: "x"}, {Room: r2, Nick: "z"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Union: %v, want %v", got, want)
	}
}
