package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/internal/testenv"
)

// ox listen --count N on its own (no daemon) stops after N messages, and
// those that arrived with them but came after the count are shown by the
// next listen: read, never shown, never lost.
func TestIntegrationListenCountKeepsTheRest(t *testing.T) {
	testenv.ForEachServer(t, testenv.Users("alice", "bob"), func(t *testing.T, srv *testenv.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		w := newDaemonWorld(t, srv, "alice", srv.Addr)
		t.Setenv("OX_NO_DAEMON", "1")
		w.mustOX("key", "generate")
		w.mustOX("key", "publish")
		bob := srv.Client(ctx, t, srv.Addr, "bob", true)
		listen := func(count string) []string {
			t.Helper()
			code, out, errs := w.ox("listen", "--json", "--count", count, "--timeout", "60s")
			if code != 0 {
				t.Fatalf("ox listen --count %s: exit %d: %s", count, code, errs)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var l feed.Line
				if json.Unmarshal([]byte(line), &l) == nil && l.Type == feed.TypeMessage {
					got = append(got, l.Body)
				}
			}
			return got
		}
		// The first listen marks where the archive stands; from then on
		// what waits on the server comes to the next.
		if _, err := bob.Send(ctx, srv.JIDParse(t, "alice"), "zero"); err != nil {
			t.Fatal(err)
		}
		if got := listen("1"); len(got) != 1 || got[0] != "zero" {
			t.Fatalf("first listen --count 1: %q, want [zero]", got)
		}
		for _, body := range []string{"one", "two", "three"} {
			if _, err := bob.Send(ctx, srv.JIDParse(t, "alice"), body); err != nil {
				t.Fatal(err)
			}
		}
		if got := listen("1"); len(got) != 1 || got[0] != "one" {
			t.Errorf("listen --count 1: %q, want [one]", got)
		}
		if got := listen("2"); len(got) != 2 || got[0] != "two" || got[1] != "three" {
			t.Errorf("the next listen --count 2: %q, want [two three]", got)
		}
	})
}
