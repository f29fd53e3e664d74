package main

import (
	"context"
	"encoding/json"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/store"
)

// The journal (store.MarkDeliveredJournal): every message the pipeline
// delivers is written there as its line, in the same transaction that
// marks it delivered, and marked shown once printed. A line delivered but
// never shown (ox listen --count N stopped before it, or the process died
// between the two) is shown by the next listen, through a daemon or not:
// a message is never marked read without being shown.

// journalLine is the line a delivered message is journalled as.
func journalLine(m *ox.Message) []byte {
	b, _ := json.Marshal(lineOf(m))
	return b
}

// pruneJournal forgets shown lines older than a week (a script resuming
// with "after" finds them) and beyond the newest 100,000; lines never
// shown stay.
func pruneJournal(ctx context.Context, st *store.Store) error {
	return st.PruneJournal(ctx, clock().Add(-7*24*time.Hour), 100_000)
}

// replayUnshown prints the journal's messages never shown, oldest first,
// until pr is full, and marks them shown; events left by a daemon are
// stale and only marked.
func replayUnshown(ctx context.Context, st *store.Store, pr *printer, dl *downloader) error {
	after := int64(0)
	for !pr.isFull() {
		page, err := st.Journal(ctx, after, true, 500)
		if err != nil || len(page) == 0 {
			return err
		}
		var shown []int64
		for _, jl := range page {
			after = jl.Seq
			var l feed.Line
			if json.Unmarshal(jl.Line, &l) != nil || l.Type == feed.TypeEvent {
				shown = append(shown, jl.Seq)
				continue
			}
			if pr.isFull() {
				break
			}
			l.Seq = jl.Seq
			if l.FileURL != "" && dl.dir != "" {
				dl.attach(&ox.Message{Body: l.Body, Payload: []byte(l.Payload)}, &l)
			}
			if pr.line(l) {
				shown = append(shown, jl.Seq)
			}
		}
		if err := st.MarkShown(ctx, shown...); err != nil {
			return err
		}
	}
	return nil
}
