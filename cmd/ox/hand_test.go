package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/rpc"
	"codeberg.org/ox/ox/store"
)

// Two writers journal side by side (the pipeline's worker with each
// message, the connection's events), each handing its line after its
// commit: a line can be handed after the one journaled next. A
// subscriber still gets every line once, in the journal's order, and an
// unshown-only subscriber never gets the lines shown before it came.
func TestHandInJournalOrder(t *testing.T) {
	for _, after := range []int64{-1, 0} {
		ctx := context.Background()
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		d := &daemon{e: &env{stderr: io.Discard}, local: &session{Client: &ox.Client{Store: st}}, subs: map[*rpc.Conn]*subscription{}}
		journal := func(what string) feed.Line {
			l := feed.Event(what, "", time.Now())
			b, _ := json.Marshal(l)
			seq, err := st.AppendJournal(ctx, time.Now(), b)
			if err != nil {
				t.Fatal(err)
			}
			l.Seq = seq
			return l
		}
		old := journal("old")
		if err := st.MarkShown(ctx, old.Seq); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		c := rpc.NewConn(&out, func() error { return nil })
		if _, err := d.subscribe(ctx, c, after, 0, jid.JID{}); err != nil {
			t.Fatal(err)
		}
		replayed := out.Len()
		first := journal("first") // committed; its writer has not handed it yet
		d.event(feed.Event("second", "", time.Now()))
		d.hand(first) // late
		d.event(feed.Event("third", "", time.Now()))

		var got []string
		var seqs []int64
		for _, b := range bytes.Split(bytes.TrimSpace(out.Bytes()[replayed:]), []byte("\n")) {
			var n struct{ Params feed.Line }
			if err := json.Unmarshal(b, &n); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			got = append(got, n.Params.Event)
			seqs = append(seqs, n.Params.Seq)
		}
		if want := []string{"first", "second", "third"}; !slices.Equal(got, want) {
			t.Errorf("after %d: the subscriber got %v (seqs %v), want %v once each, in order", after, got, seqs, want)
		}
		if n, err := st.Unshown(ctx); err != nil || n != 0 {
			t.Errorf("after %d: %d lines left unshown (%v), want 0", after, n, err)
		}
	}
}
