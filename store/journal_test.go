package store

import (
	"context"
	"testing"
	"time"
)

func TestJournal(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Unix(1_800_000_000, 0)
	first, seq1, err := s.MarkDeliveredJournal(ctx, "sid-1", now, []byte(`{"n":1}`))
	if err != nil || !first || seq1 == 0 {
		t.Fatalf("first delivery: %v %d %v", first, seq1, err)
	}
	// The same message again is a repeat: no second line.
	if first, seq, err := s.MarkDeliveredJournal(ctx, "sid-1", now, []byte(`{"n":1}`)); err != nil || first || seq != 0 {
		t.Fatalf("repeat: %v %d %v", first, seq, err)
	}
	seq2, err := s.AppendJournal(ctx, now, []byte(`{"n":2}`))
	if err != nil || seq2 <= seq1 {
		t.Fatalf("append: %d %v", seq2, err)
	}
	if ok, _ := s.IsDelivered(ctx, "sid-1"); !ok {
		t.Error("the journalled message is not recorded as delivered")
	}
	all, _ := s.Journal(ctx, 0, false, 10)
	if len(all) != 2 || string(all[1].Line) != `{"n":2}` {
		t.Fatalf("journal: %v", all)
	}
	if err := s.MarkShown(ctx, seq1); err != nil {
		t.Fatal(err)
	}
	unshown, _ := s.Journal(ctx, 0, true, 10)
	if len(unshown) != 1 || unshown[0].Seq != seq2 {
		t.Fatalf("unshown: %v", unshown)
	}
	// Pruning keeps what was never shown.
	if err := s.PruneJournal(ctx, now.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	all, _ = s.Journal(ctx, 0, false, 10)
	if len(all) != 1 || all[0].Seq != seq2 {
		t.Fatalf("after pruning: %v", all)
	}
	if last, _ := s.LastJournal(ctx); last != seq2 {
		t.Errorf("last %d, want %d", last, seq2)
	}
}
