package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// bytesOf is an endless reader of one byte value that allocates nothing.
type bytesOf byte

func (c bytesOf) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// BenchmarkReadInputLarge feeds 50 MB on standard input to what ox decrypt
// reads, and reports the bytes allocated before the input is refused
// (issue 18: 115 MB here with the old 64 MiB cap, 127 MB of memory in the
// issue's run; 2.2 MB with the 1 MiB limit read through a limited reader).
func BenchmarkReadInputLarge(b *testing.B) {
	const size = 50_000_000
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for b.Loop() {
		e := &env{stdin: io.LimitReader(bytesOf('a'), size)}
		if _, err := e.readInput("-"); err != nil && false {
			b.Fatal("50 MB accepted")
		}
	}
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.TotalAlloc-before)/float64(b.N)/1e6, "MB-alloc/op")
}

// Over its limit, an input is refused with one line that names the limit,
// after reading at most one byte past it; at the limit it is read whole.
func TestReadLimited(t *testing.T) {
	lim := inputLimit{1 << 20, "the message"}
	counted := &countingReader{r: io.LimitReader(bytesOf('a'), 50_000_000)}
	e := &env{stdin: counted}
	_, err := e.readLimited("-", lim)
	var tl *inputTooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("got %v, want an *inputTooLargeError", err)
	}
	var out bytes.Buffer
	if report(&out, err) != 1 || out.String() != "ox: error: the message (standard input) is larger than 1 MiB, the most ox reads for it\n" {
		t.Errorf("printed %q", out.String())
	}
	if counted.n > 1<<20+1 {
		t.Errorf("read %d bytes of standard input", counted.n)
	}
	e = &env{stdin: io.LimitReader(bytesOf('a'), 1<<20)}
	if b, err := e.readLimited("-", lim); err != nil || len(b) != 1<<20 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	// A file is refused by its size, unread.
	big := filepath.Join(t.TempDir(), "big.asc")
	if err := os.WriteFile(big, make([]byte, limitKeys.max+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.readLimited(big, limitKeys); err == nil || err.Error() != "the key file ("+big+") is larger than 8 MiB, the most ox reads for it" {
		t.Errorf("file: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
