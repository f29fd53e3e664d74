package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// Client logs local (password local+"-pass") in at addr (the server's
// Addr, or a proxy before it) with a fresh store and the embedded backend,
// serves the session, and ends it all when tb ends. With publish it makes a
// key and publishes it.
func (s *Server) Client(ctx context.Context, tb testing.TB, addr, local string, publish bool, setup ...func(*ox.Client)) *ox.Client {
	tb.Helper()
	st, err := store.Open(ctx, filepath.Join(tb.TempDir(), "ox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	a, err := s.Account(local, local+"-pass", "", false)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	a.Server = addr
	sess, err := ox.Dial(ctx, a)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	c := ox.NewClient(sess, native.New(st), st)
	for _, f := range setup {
		f(c) // before Serve: OnMessage and the like
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(nil) }()
	tb.Cleanup(func() { CloseSession(sess); <-served; c.Close(); st.Close() })
	if publish {
		k, err := c.Backend.Generate(ctx, c.JID(), pgpOptions)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := c.Publish(ctx, k.Fingerprint); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

var pgpOptions = pgp.GenerateOptions{Expiry: pgp.DefaultExpiry}
