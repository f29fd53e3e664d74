package ox

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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
