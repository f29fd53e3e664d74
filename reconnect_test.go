package ox

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{ErrConnectionLost, true},
		{fmt.Errorf("dial: %w", errors.New("connection refused")), true},
		{&TimeoutError{Server: "s", Step: "connect", err: context.DeadlineExceeded}, true},
		{&AuthError{Kind: AuthRefused}, false},
		{&TLSError{Server: "s", err: &x509.UnknownAuthorityError{}}, false},
		{&TLSError{Server: "s", err: x509.HostnameError{Host: "x"}}, false},
		{fmt.Errorf("x: %w", ErrNoStartTLS), false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A login whose TCP connection failed never reached the server; one that
// failed later (TLS, authentication, a reset) did.
func TestUnreached(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	if !Unreached(fmt.Errorf("ox: connect to 127.0.0.1:5222: during the TCP connection: %w", refused)) {
		t.Errorf("a refused connection: reached the server, want not")
	}
	for _, err := range []error{
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		&AuthError{Kind: AuthRefused},
		ErrConnectionLost,
		nil,
	} {
		if Unreached(err) {
			t.Errorf("%v: not reached, want reached", err)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 500*time.Millisecond, 30*time.Second
	for n, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second} {
		if got := Backoff(n, min, max, 0); got != want {
			t.Errorf("attempt %d: %v, want %v", n, got, want)
		}
	}
	if got := Backoff(50, min, max, 0); got != max {
		t.Errorf("attempt 50: %v, want the bound %v", got, max)
	}
	if got := Backoff(3, min, max, 0.999); got <= 2*time.Second || got > 4*time.Second {
		t.Errorf("jittered: %v, want in (2s, 4s]", got)
	}
}

// A stream that ends without its closing tag is told as a cut, not as the
// XML decoder's syntax error, and it is worth connecting again.
func TestStreamCut(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(`<stream:stream xmlns:stream="http://etherx.jabber.org/streams"><message>`))
	var err error
	for err == nil {
		_, err = d.Token()
	}
	cut := streamCut(err)
	var ce *CutError
	if !errors.As(cut, &ce) || strings.Contains(cut.Error(), "syntax") || !Transient(cut) {
		t.Errorf("streamCut(%v) = %v; want a CutError, worth trying again", err, cut)
	}
	if other := errors.New("stream error: policy-violation"); streamCut(other) != other {
		t.Error("an error that is no cut was renamed")
	}
	if streamCut(nil) != nil {
		t.Error("nil renamed")
	}
}
