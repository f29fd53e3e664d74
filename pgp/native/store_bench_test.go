package native_test

// Benchmarks at store sizes (issue 5): key lookup for a JID, and opening a
// message, with 10 to 100,000 keys stored; start-up of an account with
// 10,000 contacts. The stores hold a few real keys (the ones the benchmark
// uses) and synthetic rows for the rest: distinct fingerprints, key IDs
// and user IDs, an announcement each, and a public-key blob of a real
// key's size that is never parsed. Building 100,000 rows takes about a
// minute, so each size is built once and kept in os.TempDir()
// (oxbench-store-*.db, 5 KB per key; files of another schema version are
// removed); delete those files to rebuild.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// benchStoreFormat changes whenever the synthetic rows change, so that an
// old cached file is not used.
const benchStoreFormat = 1

// benchRealKeys is how many real keys the benchmarks add to a store: the
// account's own (bob) and one contact's (alice).
const benchRealKeys = 2

// benchContact is the synthetic contact number i.
func benchContact(i int) string { return fmt.Sprintf("c%06d@example.org", i) }

// benchStoreFile returns a database file holding n synthetic contacts,
// building it the first time.
func benchStoreFile(tb testing.TB, n int) string {
	tb.Helper()
	name := filepath.Join(os.TempDir(), fmt.Sprintf("oxbench-store-f%d-v%d-n%d.db", benchStoreFormat, store.LatestVersion(), n))
	if _, err := os.Stat(name); err == nil {
		return name
	}
	// Files for another format or schema version are stale: remove them
	// (the one for 100,000 contacts is half a gigabyte).
	prefix := fmt.Sprintf("oxbench-store-f%d-v%d-", benchStoreFormat, store.LatestVersion())
	if old, _ := filepath.Glob(filepath.Join(os.TempDir(), "oxbench-store-f*-v*-n*.db")); len(old) > 0 {
		for _, f := range old {
			if !strings.HasPrefix(filepath.Base(f), prefix) {
				os.Remove(f)
			}
		}
	}
	start := time.Now()
	tmp := name + "." + strconv.Itoa(os.Getpid()) + ".tmp"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(f)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, tmp)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewChaCha8([32]byte{'o', 'x', byte(n), byte(n >> 8), byte(n >> 16)}))
	blob := make([]byte, 450) // a minimal Ed25519 + Cv25519 public key is about this long
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		var fpr, sub pgp.Fingerprint
		for j := range fpr {
			fpr[j], sub[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		j := jid.MustParse(benchContact(i))
		ki := pgp.KeyInfo{
			Fingerprint: fpr, Algorithm: "Ed25519", Created: created, Expires: created.Add(pgp.DefaultExpiry),
			Capabilities: pgp.Capabilities{Certify: true, Sign: true},
			UserIDs:      []string{pgp.UserID(j)},
			Subkeys: []pgp.Subkey{{Fingerprint: sub, Algorithm: "Cv25519", Created: created, Expires: created.Add(pgp.DefaultExpiry),
				Capabilities: pgp.Capabilities{Encrypt: true}}},
		}
		info, err := json.Marshal(ki)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.PutKey(ctx, &store.Key{
			Fingerprint: fpr.String(), Public: blob, Info: info, Created: created,
			KeyIDs: []uint64{rng.Uint64(), rng.Uint64()}, UserIDs: []string{pgp.UserID(j)},
		}); err != nil {
			tb.Fatal(err)
		}
		if err := st.SetAnnouncements(ctx, j.String(), "current", []store.Announcement{{Fingerprint: fpr.String(), Date: created}}, created); err != nil {
			tb.Fatal(err)
		}
	}
	if err := st.Close(); err != nil { // checkpoints the WAL into the file
		tb.Fatal(err)
	}
	if fi, err := os.Stat(tmp + "-wal"); err == nil && fi.Size() > 0 {
		tb.Fatalf("%s: the WAL was not checkpointed on close", tmp)
	}
	if err := os.Rename(tmp, name); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built %s (%d synthetic contacts) in %v", name, n, time.Since(start).Round(time.Millisecond))
	return name
}

// benchCopyStore copies the cached file with n synthetic contacts into
// dir and returns the copy's path.
func benchCopyStore(tb testing.TB, n int, dir string) string {
	tb.Helper()
	src, err := os.Open(benchStoreFile(tb, n))
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "ox.db")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		tb.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// benchPairStored is benchPair, with bob's store holding keys keys in all.
func benchPairStored(tb testing.TB, keys int) (alice, bob *benchParty) {
	tb.Helper()
	alice = benchNewParty(tb, tb.TempDir(), "alice")
	st, err := store.Open(context.Background(), benchCopyStore(tb, max(keys-benchRealKeys, 0), tb.TempDir()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	bob = benchPartyOn(tb, st, "bob", true)
	benchIntroduce(tb, alice, bob)
	benchIntroduce(tb, bob, alice)
	if n, err := st.CountKeys(context.Background()); err != nil || n != max(keys, benchRealKeys) {
		tb.Fatalf("the store holds %d keys (%v), want %d", n, err, keys)
	}
	return alice, bob
}

var benchStoreSizes = []int{10, 1000, 10000, 100000}

// BenchmarkLookup is the backend's key lookup for a JID (what a send does
// for the recipient) at store sizes.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchStoreSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			alice, bob := benchPairStored(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ks, err := bob.b.Lookup(ctx, alice.jid)
				if err != nil || len(ks) != 1 {
					b.Fatalf("lookup: %d keys, %v", len(ks), err)
				}
			}
		})
	}
}

// BenchmarkOpenStored is BenchmarkOpen/ox with few and with many keys stored.
func BenchmarkOpenStored(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			alice, bob := benchPairStored(b, n)
			wire, err := benchSeal(ctx, alice, bob.jid, []pgp.Fingerprint{bob.fpr, alice.fpr}, benchText)
			if err != nil {
				b.Fatal(err)
			}
			delivered := time.Now()
			if body, err := benchReceive(ctx, bob, alice.jid, wire, delivered); err != nil || body != benchText {
				b.Fatalf("receive: %q, %v", body, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := benchReceive(ctx, bob, alice.jid, wire, delivered); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStartup opens an account's store as a program starting does:
// store.Open, native.New and the first lookup of a contact's keys.
func BenchmarkStartup(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{0, 10000} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			path := benchCopyStore(b, n, b.TempDir())
			st, err := store.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			benchPartyOn(b, st, "bob", true) // the account's own key
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			contact, want := jid.MustParse(benchContact(n/2)), 1
			if n == 0 {
				want = 0
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st, err := store.Open(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				ks, err := native.New(st).Lookup(ctx, contact)
				if err != nil || len(ks) != want {
					b.Fatalf("lookup: %d keys, %v", len(ks), err)
				}
				b.StopTimer()
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
