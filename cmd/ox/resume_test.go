package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/muc"
)

// testKeeper is the keeper of a new account's directory, and its env.
func testKeeper(t *testing.T) (*env, *resumeKeeper) {
	t.Helper()
	dir := t.TempDir()
	e := &env{getenv: func(string) string { return "" }, home: dir, account: "alice@example.org"}
	if err := os.MkdirAll(filepath.Join(dir, "accounts", "alice@example.org"), 0o700); err != nil {
		t.Fatal(err)
	}
	k := e.keepResumption()
	if k == nil {
		t.Fatal("no keeper")
	}
	return e, k
}

// What a listen keeps of its session for a run after a crash: each save
// replaces the one before whole, a shorter one too, and a clean end
// removes it.
func TestResumeKeeperSaves(t *testing.T) {
	e, k := testKeeper(t)
	warn := func(w string) { t.Error(w) }
	if r := k.load(warn); r != nil {
		t.Fatalf("a resumption before any was saved: %v", r)
	}
	for _, text := range []string{
		`{"id":"a-long-session-id-from-the-server","jid":"alice@example.org/a-long-resource","h":123456}`,
		`{"id":"short","jid":"alice@example.org/r","h":7}`,
	} {
		r, err := ox.ParseResumption([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		k.save(r)
		got := k.load(warn)
		want, _ := r.MarshalText()
		if b, _ := got.MarshalText(); got == nil || string(b) != string(want) {
			t.Fatalf("saved %s, read back %s", want, b)
		}
	}
	// A second process of the account (a daemon started while a listen
	// ran) neither takes the first's session nor saves its own while the
	// first holds the lock; once the first ends, it keeps its own.
	k2 := e.keepResumption()
	if k2 == nil || !k2.late {
		t.Fatalf("a second keeper while the first holds the lock: %+v", k2)
	}
	if r := k2.load(warn); r != nil {
		t.Errorf("the second keeper takes the first's session over: %v", r)
	}
	second, err := ox.ParseResumption([]byte(`{"id":"the-second","jid":"alice@example.org/d","h":3}`))
	if err != nil {
		t.Fatal(err)
	}
	k2.save(second)
	k2.saveSeats([]muc.Seat{{Room: jid.MustParse("c@conference.example.org"), Nick: "alice"}})
	if got, _ := k.load(warn).MarshalText(); strings.Contains(string(got), "the-second") {
		t.Fatalf("the second keeper wrote over the first's resumption: %s", got)
	}
	if isHeld(k2) {
		t.Fatal("the second keeper holds the lock while the first does")
	}
	k.close()
	<-k2.held
	b, err := os.ReadFile(k2.path)
	if err != nil || !strings.Contains(string(b), "the-second") {
		t.Errorf("once the first ended, the second's resumption is %q (%v)", b, err)
	}
	if s, err := os.ReadFile(k2.path + ".rooms"); err != nil || !strings.Contains(string(s), "c@conference") {
		t.Errorf("once the first ended, the second's rooms are %q (%v)", s, err)
	}
	k2.close()
	if _, err := os.Stat(k2.path); !os.IsNotExist(err) {
		t.Errorf("the resumption is still there after a clean end: %v", err)
	}
}

func isHeld(k *resumeKeeper) bool {
	select {
	case <-k.held:
		return true
	default:
		return false
	}
}

// The rooms a session is in are kept beside its resumption: read back as
// written, replaced by a shorter list, a damaged record is a warning and
// no rooms, and a clean end removes them.
func TestResumeKeeperSeats(t *testing.T) {
	_, k := testKeeper(t)
	warn := func(w string) { t.Error(w) }
	if s := k.loadSeats(warn); s != nil {
		t.Fatalf("rooms before any were saved: %v", s)
	}
	two := []muc.Seat{
		{Room: jid.MustParse("a@conference.example.org"), Nick: "alice"},
		{Room: jid.MustParse("b@conference.example.org"), Nick: "al ice"},
	}
	for _, seats := range [][]muc.Seat{two, two[1:], nil} {
		k.saveSeats(seats)
		got := k.loadSeats(warn)
		if fmt.Sprint(got) != fmt.Sprint(seats) {
			t.Fatalf("saved %v, read back %v", seats, got)
		}
	}
	k.saveSeats(two)
	if err := os.WriteFile(k.path+".rooms", []byte(`[{"room":"a@conference.example.org"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned string
	if s := k.loadSeats(func(w string) { warned = w }); s != nil || !strings.Contains(warned, "not joined again") {
		t.Errorf("a record without a nick: rooms %v, warning %q", s, warned)
	}
	k.close()
	if _, err := os.Stat(k.path + ".rooms"); !os.IsNotExist(err) {
		t.Errorf("the rooms are still there after a clean end: %v", err)
	}
}
