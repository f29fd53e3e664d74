package ox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/faultproxy"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/pgp"
)

// A path that fails under a request: the server's bytes stop coming (the
// proxy stalls them), or the connection is cut. Every operation returns
// within its deadline with the right error, and a message whose
// confirmation never came is reported as possibly delivered.
func TestIntegrationFaultyPath(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bob, bobIn := listening(ctx, t, srv, "bob")

	proxy := faultproxy.StartT(t, srv.Addr)
	a, err := srv.Account("alice", "alice-pass", "", false)
	if err != nil {
		t.Fatal(err)
	}
	a.Server = proxy.Addr
	sess, err := ox.Dial(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: a.JID, Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Session = sess
	const deadline = 2 * time.Second
	c.RequestTimeout, c.PingInterval = deadline, -1
	served := make(chan error, 1)
	go func() { served <- c.Serve(nil) }()
	defer func() {
		prosody.CloseSession(sess)
		<-served
		c.Close()
	}()
	key, err := c.Backend.Generate(ctx, a.JID, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx, bob.jid); err != nil { // bob's keys at hand: Send needs no fetch
		t.Fatal(err)
	}

	within := func(what string, start time.Time) {
		t.Helper()
		if d := time.Since(start); d > deadline+time.Second {
			t.Errorf("%s took %v, past its deadline of %v", what, d, deadline)
		}
	}

	t.Run("server silent during a send", func(t *testing.T) {
		proxy.Stall(faultproxy.Down)
		start := time.Now()
		_, err := c.Send(ctx, bob.jid, "did it arrive?")
		within("Send", start)
		var uo *ox.UnknownOutcomeError
		if !errors.As(err, &uo) || !errors.Is(err, ox.ErrTimeout) {
			t.Fatalf("Send: %v, want an unknown outcome after the deadline", err)
		}
		t.Log(err)
		// It did arrive: the server had it; only its answer was held back.
		if m := bobIn.next(t, "the message sent while the answers stalled"); m.Err != nil || m.Body != "did it arrive?" {
			t.Fatalf("bob got %+v (err %v)", m, m.Err)
		}
		start = time.Now()
		if _, err := c.Fetch(ctx, bob.jid); !errors.Is(err, ox.ErrTimeout) {
			t.Fatalf("Fetch: %v, want ErrTimeout", err)
		}
		within("Fetch", start)
		// Every other request of a command ends at its deadline alike.
		for name, op := range map[string]func() error{
			"Publish":    func() error { _, err := c.Publish(ctx, key.Fingerprint); return err },
			"BackupPush": func() error { _, err := c.BackupPush(ctx, key.Fingerprint, true); return err },
			"Unpublish":  func() error { return c.Unpublish(ctx, key.Fingerprint) },
		} {
			start = time.Now()
			if err := op(); !errors.Is(err, ox.ErrTimeout) {
				t.Fatalf("%s: %v, want ErrTimeout", name, err)
			}
			within(name, start)
		}
		proxy.Resume(faultproxy.Down)
	})

	t.Run("connection cut", func(t *testing.T) {
		proxy.SetDown(true)
		proxy.Cut()
		select {
		case <-served:
		case <-ctx.Done():
			t.Fatal("Serve did not return when the connection was cut")
		}
		served <- nil // for the deferred cleanup
		start := time.Now()
		_, err := c.Send(ctx, bob.jid, "into the void")
		within("Send", start)
		if !errors.Is(err, ox.ErrConnectionLost) {
			t.Fatalf("Send on a cut connection: %v, want ErrConnectionLost", err)
		}
		if _, err := c.Publish(ctx, key.Fingerprint); !errors.Is(err, ox.ErrConnectionLost) {
			t.Fatalf("Publish on a cut connection: %v, want ErrConnectionLost", err)
		}
	})
}
