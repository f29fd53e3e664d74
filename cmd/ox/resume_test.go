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
	// A second listen of the account neither takes nor saves it.
	if k2 := e.keepResumption(); k2 != nil {
		t.Error("a second keeper while the first holds the lock")
	}
	k.close()
	if _, err := os.Stat(k.path); !os.IsNotExist(err) {
		t.Errorf("the resumption is still there after a clean end: %v", err)
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
