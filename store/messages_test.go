package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Ids of messages handed over long ago are forgotten; recent ones are kept.
func TestPruneDelivered(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for id, at := range map[string]time.Time{"old": now.Add(-30 * 24 * time.Hour), "new": now.Add(-time.Hour)} {
		if first, err := s.MarkDelivered(ctx, id, at); err != nil || !first {
			t.Fatal(first, err)
		}
	}
	n, err := s.PruneDelivered(ctx, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	for id, want := range map[string]bool{"old": false, "new": true} {
		if got, err := s.IsDelivered(ctx, id); err != nil || got != want {
			t.Errorf("%s delivered: %v, %v; want %v", id, got, err, want)
		}
	}
}

// Messages wait in the inbox in the order they came, until deleted.
func TestInboxOrder(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, b := range []string{"a", "b", "c"} {
		if err := s.AddInbox(ctx, []byte(b), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := s.Inbox(ctx, 2)
	if err != nil || len(kept) != 2 || string(kept[0].Stanza) != "a" || string(kept[1].Stanza) != "b" {
		t.Fatalf("%+v %v", kept, err)
	}
	if err := s.DeleteInbox(ctx, kept[0].ID); err != nil {
		t.Fatal(err)
	}
	kept, _ = s.Inbox(ctx, 10)
	if len(kept) != 2 || string(kept[0].Stanza) != "b" {
		t.Fatalf("after delete: %+v", kept)
	}
}

// Every incoming message asks Seen; the pending messages' stanza-ids are
// indexed only where not empty, and a query that does not say so reads
// the whole pending table each time.
func TestPendingLookupsUseTheIndex(t *testing.T) {
	s := open(t)
	for _, q := range []string{seenQuery, hasPendingQuery} {
		rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, "an-id")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "SCAN pending") || !strings.Contains(joined, "pending_stanza_id") {
			t.Errorf("%s\nplan: %s; want a search of pending by pending_stanza_id", q, joined)
		}
	}
}

// RetryKept asks for the senders of pending messages, newest first, and
// whether one was kept for a given reason, without reading the messages.
func TestPendingSenders(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, p := range []Pending{
		{Sender: "a@x", Stanza: []byte("<m/>"), Reason: "key unknown"},
		{Sender: "b@x", Stanza: []byte("<m/>"), Reason: "it could not be read now: timeout"},
		{Sender: "a@x", Stanza: []byte("<m/>"), Reason: "key unknown"},
		{Sender: "c@x", Stanza: []byte("<m/>"), Reason: "it could"},
	} {
		if _, err := s.AddPending(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, n, err := s.PendingSenders(ctx, "it could not be read now")
	want := []PendingSender{{"c@x", false}, {"a@x", false}, {"b@x", true}}
	if err != nil || n != 4 || !reflect.DeepEqual(got, want) {
		t.Fatalf("PendingSenders: %v, %d, %v; want %v, 4", got, n, err, want)
	}
}

// AcceptDeliver records a new message as accepted and delivered, with its
// journal line, at once; a second copy of it records nothing and names the
// first.
func TestAcceptDeliver(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Unix(1_800_000_000, 0)
	a := Accepted{Origin: "live", StanzaID: "s1", At: now.Add(-time.Minute)}
	prev, first, seq, err := s.AcceptDeliver(ctx, "d1", a, "s1", now, []byte(`{"n":1}`))
	if err != nil || prev != nil || !first || seq == 0 {
		t.Fatalf("first copy: %+v %v %d %v", prev, first, seq, err)
	}
	if ok, err := s.IsDelivered(ctx, "s1"); err != nil || !ok {
		t.Errorf("s1 not recorded as delivered: %v", err)
	}
	lines, err := s.Journal(ctx, 0, false, 10)
	if err != nil || len(lines) != 1 || lines[0].Seq != seq || string(lines[0].Line) != `{"n":1}` {
		t.Errorf("journal: %+v %v", lines, err)
	}
	// A replay under another stanza-id: nothing recorded, the first named.
	prev, first, seq, err = s.AcceptDeliver(ctx, "d1", Accepted{Origin: "archive", StanzaID: "s2", At: a.At}, "s2", now, []byte(`{"n":2}`))
	if err != nil || prev == nil || prev.Origin != "live" || prev.StanzaID != "s1" || !prev.At.Equal(a.At) || first || seq != 0 {
		t.Fatalf("second copy: %+v %v %d %v", prev, first, seq, err)
	}
	if ok, _ := s.IsDelivered(ctx, "s2"); ok {
		t.Error("the replay's stanza-id was recorded as delivered")
	}
	if lines, _ := s.Journal(ctx, 0, false, 10); len(lines) != 1 {
		t.Errorf("the replay added a journal line: %+v", lines)
	}
	// A new message under a stanza-id delivered before (its first
	// reading did not finish): accepted, not delivered again.
	prev, first, _, err = s.AcceptDeliver(ctx, "d2", a, "s1", now, nil)
	if err != nil || prev != nil || first {
		t.Errorf("a stanza-id delivered before: %+v %v %v", prev, first, err)
	}
	// Without a stanza-id: accepted, handed over, no delivered record.
	if prev, first, seq, err = s.AcceptDeliver(ctx, "d3", a, "", now, []byte(`{}`)); err != nil || prev != nil || !first || seq != 0 {
		t.Errorf("without a stanza-id: %+v %v %d %v", prev, first, seq, err)
	}
}
