package ox_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"codeberg.org/ox/ox/files"
	"codeberg.org/ox/ox/internal/testenv"
)

// BenchmarkFileUpload100MB uploads a 100 MB file (read as it streams, from
// a generator: no file in memory) to Prosody's upload service and reports
// the heap's peak above its level before the upload (the target: a few
// MB), and the rate. Run it with
//
//	go test -run '^$' -bench '^BenchmarkFileUpload100MB$' -benchtime 1x .
func BenchmarkFileUpload100MB(b *testing.B) {
	if err := testenv.Available(testenv.Prosody); err != nil {
		fmt.Printf("--- SKIP: %s\n    %v\n", b.Name(), err)
		b.Skip(err)
	}
	const size = 100_000_000
	srv := testenv.StartT(b, testenv.Prosody, testenv.Options{Accounts: map[string]string{"alice": "alice-pass"}, Upload: true, UploadMax: 128 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := srv.Client(ctx, b, srv.Addr, "alice", false)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.TLSConfig().RootCAs}}}
	svc, err := files.Discover(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	var peakOver float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		idle := heapNow()
		stop := heapPeak()
		start := time.Now()
		if _, err := files.Upload(ctx, c, svc, "big.bin", size, io.LimitReader(zeros{}, size), files.Options{HTTP: hc}); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		peak := stop()
		if over := float64(peak) - float64(idle); over > peakOver {
			peakOver = over
		}
		b.ReportMetric(size/elapsed.Seconds()/1e6, "MB/s")
	}
	b.ReportMetric(peakOver/(1<<20), "MiB-heap-peak-over-idle")
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func heapNow() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// heapPeak samples the live heap until stop is called and returns its
// highest value.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}
