package ox_test

import (
	"context"
	"testing"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/testenv"
)

// A message whose sender had published no key when it came is kept; the
// sender publishes later, and no notification tells bob (they do not
// share presence). RetryKept, which listen and the daemon call from time
// to time, fetches the sender's keys again and reads it.
func TestIntegrationRetryKept(t *testing.T) {
	onEachServer(t, testIntegrationRetryKept, "alice", "bob")
}

func testIntegrationRetryKept(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bobIn := make(inbox, 8)
	bob := newDeviceWith(ctx, t, srv, "bob", true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { bobIn <- m } })
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := bob.Online(ctx); err != nil {
		t.Fatal(err)
	}
	alice := newDevice(ctx, t, srv, "alice", true, nil) // a key, not published yet
	if _, err := alice.Send(ctx, bob.jid.Bare(), "before my key was out"); err != nil {
		t.Fatal(err)
	}
	if m := bobIn.next(t, "the message"); !m.Pending {
		t.Fatalf("shown as %+v (%v); want kept: alice has published no key", m, m.Err)
	}
	if read, kept, err := bob.RetryKept(ctx); err != nil || len(read) != 0 || kept != 1 {
		t.Fatalf("RetryKept before alice publishes: %d read, %d kept, %v; want 0, 1", len(read), kept, err)
	}
	if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	read, kept, err := bob.RetryKept(ctx)
	if err != nil || len(read) != 1 || kept != 0 {
		t.Fatalf("RetryKept after alice published: %d read, %d kept, %v; want 1, 0", len(read), kept, err)
	}
	if m := read[0]; m.Err != nil || m.Body != "before my key was out" {
		t.Errorf("read: %q, %v", m.Body, m.Err)
	}
	bobIn.none(t, 0)
}
