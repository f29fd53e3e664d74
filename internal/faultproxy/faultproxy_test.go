package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer echoes every line back; it says on wrote when it has written.
func echoServer(t *testing.T) (addr string, wrote chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	wrote = make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
					wrote <- line
				}
			}()
		}
	}()
	return ln.Addr().String(), wrote
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != msg+"\n" {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

func TestForwardAndCount(t *testing.T) {
	addr, _ := echoServer(t)
	p := StartT(t, addr)
	c, r := dial(t, p)
	roundTrip(t, c, r, "hello")
	if up, down := p.Bytes(Up), p.Bytes(Down); up != 6 || down != 6 {
		t.Errorf("bytes up %d down %d, want 6 and 6", up, down)
	}
	if p.Open() != 1 || p.Accepted() != 1 {
		t.Errorf("open %d accepted %d, want 1 and 1", p.Open(), p.Accepted())
	}
}

func TestCut(t *testing.T) {
	addr, _ := echoServer(t)
	p := StartT(t, addr)
	c, r := dial(t, p)
	roundTrip(t, c, r, "before")
	if n := p.Cut(); n != 1 {
		t.Errorf("Cut closed %d connections, want 1", n)
	}
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("read after Cut: %v, want EOF", err)
	}
	// A new connection goes through: a cut is not a path down.
	c2, r2 := dial(t, p)
	roundTrip(t, c2, r2, "after")
}

func TestDown(t *testing.T) {
	addr, _ := echoServer(t)
	p := StartT(t, addr)
	c, r := dial(t, p)
	roundTrip(t, c, r, "up")
	p.SetDown(true)
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("open connection after SetDown: %v, want EOF", err)
	}
	_, r2 := dial(t, p)
	if _, err := r2.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("new connection while down: %v, want EOF", err)
	}
	p.SetDown(false)
	c3, r3 := dial(t, p)
	roundTrip(t, c3, r3, "up again")
}

func TestStallLosesNothing(t *testing.T) {
	addr, wrote := echoServer(t)
	p := StartT(t, addr)
	c, r := dial(t, p)
	roundTrip(t, c, r, "warm")
	<-wrote
	p.Stall(Down)
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	<-wrote // the server has answered; the proxy holds the answer
	// Silence while stalled: a read with a deadline times out (the
	// deadline bounds a negative check; nothing waits for it otherwise).
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read while stalled: %v, want a timeout", err)
	}
	if p.Open() != 1 {
		t.Errorf("open connections while stalled: %d, want 1 (the socket stays open)", p.Open())
	}
	c.SetReadDeadline(time.Time{})
	p.Resume(Down)
	got, err := r.ReadString('\n')
	if err != nil || got != "held\n" {
		t.Fatalf("after Resume: %q, %v; want the held answer", got, err)
	}
	if read, sent := p.Arrived(Down), p.Bytes(Down); read != 10 || sent != 10 {
		t.Errorf("down: read %d, delivered %d; want 10 and 10", read, sent)
	}
}

func TestLatency(t *testing.T) {
	addr, _ := echoServer(t)
	p := StartT(t, addr)
	c, r := dial(t, p)
	roundTrip(t, c, r, "warm")
	const each = 25 * time.Millisecond
	p.SetLatency(Up, each)
	p.SetLatency(Down, each)
	start := time.Now()
	roundTrip(t, c, r, "slow")
	if rtt := time.Since(start); rtt < 2*each {
		t.Errorf("round trip %v with %v each way, want at least %v", rtt, each, 2*each)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	addr, _ := echoServer(t)
	p, err := Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, p)
	roundTrip(t, c, r, "x")
	p.Stall(Down) // a stalled writer must not keep Close waiting
	if _, err := io.WriteString(c, "y\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- p.Close() }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// EOF, or a reset: the proxy closed with "y" unread.
	if got, err := r.ReadString('\n'); err == nil {
		t.Errorf("read after Close: %q, want the connection ended", got)
	}
	if _, err := net.Dial("tcp", p.Addr); err == nil {
		t.Error("the proxy still accepts after Close")
	}
}
