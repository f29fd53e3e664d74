package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	s := open(t)
	st, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("database mode %o, want 600", m)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v, want wal", mode, err)
	}
	if v, err := s.Version(context.Background()); err != nil || v != LatestVersion() {
		t.Errorf("version %d %v, want %d", v, err, LatestVersion())
	}
}

// Each migration applies on top of the one before it and keeps the data
// that was there; reopening is a no-op.
func TestMigrationsStepByStep(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ox.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for v := 1; v <= len(migrations); v++ {
		if err := migrateTo(ctx, db, v); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
		var got int
		if err := db.QueryRow("PRAGMA user_version").Scan(&got); err != nil || got != v {
			t.Fatalf("after migration %d: version %d %v", v, got, err)
		}
		if v == 1 {
			if _, err := db.Exec(`INSERT INTO keys (fpr, public, info, created, added, updated) VALUES ('AA', x'01', x'7b7d', 1, 1, 1)`); err != nil {
				t.Fatal(err)
			}
		}
		if v == 6 {
			if _, err := db.Exec(`INSERT INTO accepted (digest, origin, stanza_id, at) VALUES ('D1', 'live', 'S1', 100)`); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if k, err := s.GetKey(ctx, "AA"); err != nil || string(k.Public) != "\x01" {
			t.Errorf("data lost over migrations: %v", err)
		}
		// A replay of a message accepted before the accepted table was
		// keyed by time is still known.
		if prev, _, _, err := s.AcceptDeliver(ctx, "D1", Accepted{Origin: "archive", At: time.Unix(100, 0)}, "", time.Time{}, nil); err != nil || prev == nil || prev.Origin != "live" || prev.StanzaID != "S1" {
			t.Errorf("an accepted message lost over migrations: %+v %v", prev, err)
		}
		s.Close()
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", LatestVersion()+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, s.Path()); !errors.Is(err, ErrTooNew) {
		t.Errorf("got %v, want ErrTooNew", err)
	}
}

func TestKeysAndIndexes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	k := &Key{Fingerprint: "F1", Public: []byte("pub"), Secret: []byte("sec"), Info: []byte("{}"), KeyIDs: []uint64{1, 1 << 63}, UserIDs: []string{"xmpp:a@b"}}
	if err := s.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	// A public copy must not erase the secret part.
	if err := s.PutKey(ctx, &Key{Fingerprint: "F1", Public: []byte("pub2"), Info: []byte("{}"), KeyIDs: []uint64{1 << 63}, UserIDs: []string{"xmpp:a@b"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKey(ctx, "F1")
	if err != nil || string(got.Secret) != "sec" || string(got.Public) != "pub2" {
		t.Fatalf("%+v %v", got, err)
	}
	if ks, err := s.KeysByKeyID(ctx, 1<<63); err != nil || len(ks) != 1 {
		t.Errorf("by key ID (high bit set): %d %v", len(ks), err)
	}
	if ks, err := s.KeysByKeyID(ctx, 1); err != nil || len(ks) != 0 {
		t.Errorf("stale key ID index: %d %v", len(ks), err)
	}
	if ks, err := s.KeysByUserID(ctx, "xmpp:a@b"); err != nil || len(ks) != 1 {
		t.Errorf("by user ID: %d %v", len(ks), err)
	}
	if ks, err := s.SecretKeys(ctx); err != nil || len(ks) != 1 {
		t.Errorf("secret keys: %d %v", len(ks), err)
	}
	if err := s.DeleteKey(ctx, "F1"); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.KeysByUserID(ctx, "xmpp:a@b"); len(ks) != 0 {
		t.Error("user ID index outlived its key")
	}
	if _, err := s.GetKey(ctx, "F1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestAnnouncements(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, _, _, err := s.Announcements(ctx, "bob@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("never fetched: %v", err)
	}
	t0 := time.Unix(1000, 0)
	if err := s.SetAnnouncements(ctx, "bob@x", "item1", []Announcement{{Fingerprint: "A"}, {Fingerprint: "B", Date: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	t1 := time.Unix(2000, 0)
	if err := s.SetAnnouncements(ctx, "bob@x", "item2", []Announcement{{Fingerprint: "B", Date: t1}, {Fingerprint: "C"}}, t1); err != nil {
		t.Fatal(err)
	}
	list, item, fetched, err := s.Announcements(ctx, "bob@x")
	if err != nil || item != "item2" || !fetched.Equal(t1) || len(list) != 2 {
		t.Fatalf("%+v %q %v %v", list, item, fetched, err)
	}
	if list[0].Fingerprint != "B" || !list[0].FirstSeen.Equal(t0) || !list[0].Date.Equal(t1) {
		t.Errorf("B: %+v (first seen must stay)", list[0])
	}
	if ok, _ := s.IsAnnounced(ctx, "bob@x", "A"); ok {
		t.Error("A is no longer announced")
	}
	if ok, _ := s.IsAnnounced(ctx, "bob@x", "C"); !ok {
		t.Error("C is announced")
	}
}

func TestMessagesBookkeeping(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Unix(5000, 0)
	if first, err := s.MarkDelivered(ctx, "sid-1", now); err != nil || !first {
		t.Fatalf("first delivery: %v %v", first, err)
	}
	if first, err := s.MarkDelivered(ctx, "sid-1", now); err != nil || first {
		t.Fatalf("second delivery of the same id reported as new: %v", err)
	}
	id, err := s.AddPending(ctx, Pending{Sender: "bob@x", Stanza: []byte("<message/>"), Received: now, Reason: "unknown signer"})
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.PendingFrom(ctx, "bob@x"); len(ps) != 1 || ps[0].Reason != "unknown signer" || !ps[0].Received.Equal(now) {
		t.Fatalf("pending %+v", ps)
	}
	if ps, _ := s.PendingFrom(ctx, "carol@x"); len(ps) != 0 {
		t.Fatal("pending from the wrong sender")
	}
	if err := s.DeletePending(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.PendingFrom(ctx, ""); len(ps) != 0 {
		t.Fatal("pending not deleted")
	}
	if c, _ := s.MAMCursor(ctx, "a@x"); c != "" {
		t.Fatal("cursor before any")
	}
	s.SetMAMCursor(ctx, "a@x", "1")
	s.SetMAMCursor(ctx, "a@x", "2")
	if c, _ := s.MAMCursor(ctx, "a@x"); c != "2" {
		t.Fatalf("cursor %q", c)
	}
}

func TestTrustRecords(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Trust(ctx, "bob@x", "F1"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	t0, t1 := time.Unix(100, 0).UTC(), time.Unix(200, 0).UTC()
	if err := s.SetTrust(ctx, TrustRecord{JID: "bob@x", Fingerprint: "F1", State: "blind", Since: t0, Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrust(ctx, TrustRecord{JID: "bob@x", Fingerprint: "F1", State: "verified", Since: t1, Reason: "compared"}); err != nil {
		t.Fatal(err)
	}
	s.LogTrustEvent(ctx, TrustEvent{JID: "bob@x", Fingerprint: "F2", What: "new", At: t1, Reason: "announced"})
	r, err := s.Trust(ctx, "bob@x", "F1")
	if err != nil || r.State != "verified" || !r.Since.Equal(t1) {
		t.Fatalf("%+v %v", r, err)
	}
	log, err := s.TrustLog(ctx, "bob@x")
	if err != nil || len(log) != 3 || log[0].What != "blind" || log[1].What != "verified" || log[2].What != "new" {
		t.Fatalf("history %+v %v", log, err)
	}
	if p, _ := s.Policy(ctx, ""); p != "" {
		t.Fatal("policy before any")
	}
	s.SetPolicy(ctx, "", "tofu")
	s.SetPolicy(ctx, "bob@x", "manual")
	if p, _ := s.Policy(ctx, "bob@x"); p != "manual" {
		t.Fatal(p)
	}
	s.SetPolicy(ctx, "bob@x", "")
	if p, _ := s.Policy(ctx, "bob@x"); p != "" {
		t.Fatal("override not removed")
	}
}

// IsAnnounced answers from memory: this Store's own writes change the
// answer at once; another process's writes to the same database within
// announcedTTL.
func TestIsAnnouncedMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ox.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path) // another process on the same file
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	annNow = func() time.Time { return now }
	defer func() { annNow = time.Now }()
	is := func(s *Store, fpr string) bool {
		t.Helper()
		ok, err := s.IsAnnounced(ctx, "bob@example.org", fpr)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := a.SetAnnouncements(ctx, "bob@example.org", "i1", []Announcement{{Fingerprint: "F1"}}, now); err != nil {
		t.Fatal(err)
	}
	if !is(a, "F1") || is(a, "F2") {
		t.Fatal("after the first list: want F1 only")
	}
	if err := a.SetAnnouncements(ctx, "bob@example.org", "i2", []Announcement{{Fingerprint: "F2"}}, now); err != nil {
		t.Fatal(err)
	}
	if is(a, "F1") || !is(a, "F2") {
		t.Error("own write: the answer did not change at once")
	}
	if err := b.SetAnnouncements(ctx, "bob@example.org", "i3", []Announcement{{Fingerprint: "F3"}}, now); err != nil {
		t.Fatal(err)
	}
	if !is(a, "F2") {
		t.Error("another process's write seen before announcedTTL: the memory is not used")
	}
	now = now.Add(announcedTTL + time.Second)
	if is(a, "F2") || !is(a, "F3") {
		t.Error("another process's write not seen after announcedTTL")
	}
}
