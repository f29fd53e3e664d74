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
