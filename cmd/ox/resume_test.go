package main

import (
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/ox/ox"
)

// What a listen keeps of its session for a run after a crash: each save
// replaces the one before whole, a shorter one too, and a clean end
// removes it.
func TestResumeKeeperSaves(t *testing.T) {
	dir := t.TempDir()
	e := &env{getenv: func(string) string { return "" }, home: dir, account: "alice@example.org"}
	if err := os.MkdirAll(filepath.Join(dir, "accounts", "alice@example.org"), 0o700); err != nil {
		t.Fatal(err)
	}
	k := e.keepResumption()
	if k == nil {
		t.Fatal("no keeper")
	}
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
