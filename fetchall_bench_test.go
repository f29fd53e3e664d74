package ox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/internal/faultproxy"
	"codeberg.org/ox/ox/internal/testenv"
)

// BenchmarkComingOnline resolves the keys of 100 contacts that the account
// has never fetched, through a proxy that adds 50 ms of round-trip time,
// with UsableKeysAll (pipelined), and reports the wait in round trips: one
// after another it would be about 2 per contact (metadata, then the data
// node). Run it with
//
//	go test -run '^$' -bench '^BenchmarkComingOnline$' -benchtime 1x .
func BenchmarkComingOnline(b *testing.B) {
	if err := testenv.Available(testenv.Prosody); err != nil {
		fmt.Printf("--- SKIP: %s\n    %v\n", b.Name(), err)
		b.Skip(err)
	}
	const contacts, rtt = 100, 50 * time.Millisecond
	accounts := map[string]string{"me": "me-pass"}
	for i := 0; i < contacts; i++ {
		accounts[fmt.Sprintf("c%03d", i)] = fmt.Sprintf("c%03d-pass", i)
	}
	srv := testenv.StartT(b, testenv.Prosody, testenv.Options{Accounts: accounts})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var jids []jid.JID
	for i := 0; i < contacts; i++ {
		jids = append(jids, srv.Client(ctx, b, srv.Addr, fmt.Sprintf("c%03d", i), true).JID())
	}
	proxy := faultproxy.StartT(b, srv.Addr)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		me := srv.Client(ctx, b, proxy.Addr, "me", false)
		proxy.SetLatency(faultproxy.Up, rtt/2)
		proxy.SetLatency(faultproxy.Down, rtt/2)
		b.StartTimer()
		start := time.Now()
		res := me.UsableKeysAll(ctx, jids)
		elapsed := time.Since(start)
		b.StopTimer()
		proxy.SetLatency(faultproxy.Up, 0)
		proxy.SetLatency(faultproxy.Down, 0)
		for _, r := range res {
			if r.Err != nil || len(r.Keys) != 1 {
				b.Fatalf("%s: %v %v", r.JID, r.Keys, r.Err)
			}
		}
		b.ReportMetric(float64(elapsed)/float64(rtt), "RTTs")
		b.StartTimer()
	}
}
