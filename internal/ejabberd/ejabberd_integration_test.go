package ejabberd_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/ox/ox/internal/ejabberd"
)

// TestIntegrationStartRegisterStop: the server comes up with its accounts,
// takes another one after start, and Stop leaves no process behind.
func TestIntegrationStartRegisterStop(t *testing.T) {
	start := time.Now()
	srv := ejabberd.StartT(t, ejabberd.Options{Accounts: map[string]string{"alice": "alice-pass"}})
	t.Logf("ejabberd up with 1 account in %v", time.Since(start).Round(time.Millisecond))
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || !strings.HasPrefix(srv.TLSAddr, "127.0.0.1:") {
		t.Fatalf("addresses %s %s, want loopback", srv.Addr, srv.TLSAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := srv.Register(ctx, "bob", "bob-pass"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Register after start: %v", time.Since(t0).Round(time.Millisecond))
	// Registering again sets the password rather than failing.
	if err := srv.Register(ctx, "bob", "bob-pass2"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(ctx, "bad/name", "x"); err == nil {
		t.Error("an invalid local part was accepted")
	}
	pid := srv.PID()
	t0 = time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(t0).Round(time.Millisecond))
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if _, err := os.Stat(srv.LogFile); err != nil {
		t.Errorf("no log: %v", err)
	}
}
