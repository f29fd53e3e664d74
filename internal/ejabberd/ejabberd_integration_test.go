package ejabberd_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
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
	if left := processesIn(t, srv.Dir); len(left) > 0 {
		t.Errorf("processes left after Stop: %q", left)
	}
	if _, err := os.Stat(srv.LogFile); err != nil {
		t.Errorf("no log: %v", err)
	}
}

// TestIntegrationHTTPUpload: with Options.HTTPUpload the server serves
// XEP-0363 uploads over HTTPS on HTTPAddr, with the throw-away CA.
func TestIntegrationHTTPUpload(t *testing.T) {
	srv := ejabberd.StartT(t, ejabberd.Options{HTTPUpload: true})
	if !strings.HasPrefix(srv.HTTPAddr, "127.0.0.1:") {
		t.Fatalf("HTTPAddr %q", srv.HTTPAddr)
	}
	c, err := tls.Dial("tcp", srv.HTTPAddr, srv.TLSConfig())
	if err != nil {
		t.Fatalf("HTTPS on %s: %v", srv.HTTPAddr, err)
	}
	c.Close()
}

// processesIn lists the live processes whose command line or environment
// names dir (the VM's helpers, erl_child_setup and inet_gethost, have it in
// their environment: HOME, ERL_INETRC).
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("no /proc to look for the server's processes in: %v", err)
	}
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && (strings.Contains(string(cmdline), dir) || strings.Contains(string(environ), dir)) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}
