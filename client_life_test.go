package ox_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// junk is an OX message stanza whose content is no OpenPGP message: the
// pipeline refuses it at once (a rejection is still handed over, in order).
func junk(i int) []byte {
	return []byte(fmt.Sprintf(`<message xmlns="jabber:client" from="mallory@example.org/x" to="alice@example.org" id="m%d"><openpgp xmlns="urn:xmpp:openpgp:0">bm90IGFuIE9wZW5QR1AgbWVzc2FnZQ==</openpgp></message>`, i))
}

func openLocal(t *testing.T) *ox.Client {
	t.Helper()
	return openLocalAt(t, t.TempDir())
}

// openLocalAt is alice's Client on the store in dir (a run that comes back
// finds what the one before kept).
func openLocalAt(t *testing.T, dir string) *ox.Client {
	t.Helper()
	c, err := ox.OpenLocal(context.Background(), ox.LocalOptions{JID: jid.MustParse("alice@example.org"), Dir: dir, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The session's goroutine must never wait for the pipeline: while the
// consumer is stuck, Enqueue keeps returning; what does not fit the queue
// waits in the store and is handed over afterwards, every message once and
// in the order it came.
func TestEnqueueNeverBlocksAndLosesNothing(t *testing.T) {
	c := openLocal(t)
	defer c.Close()
	const n = 1000
	release := make(chan struct{})
	got := make(chan string, n)
	c.OnMessage = func(m *ox.Message) {
		<-release // the consumer is stuck until everything was enqueued
		got <- m.ID
	}
	for i := 0; i < n; i++ {
		c.Enqueue(ox.Incoming{Raw: junk(i), Origin: ox.OriginLive})
	}
	close(release)
	for i := 0; i < n; i++ {
		id := <-got
		if want := fmt.Sprintf("m%d", i); id != want {
			t.Fatalf("message %d is %s: the order was lost", i, id)
		}
	}
	select {
	case id := <-got:
		t.Fatalf("message %s handed over twice", id)
	default:
	}
}

// Close stops every goroutine the Client started.
func TestCloseStopsGoroutines(t *testing.T) {
	c := openLocal(t)
	done := make(chan struct{})
	c.OnMessage = func(*ox.Message) { close(done) }
	c.Enqueue(ox.Incoming{Raw: junk(0), Origin: ox.OriginLive})
	<-done
	if n := clientGoroutines(); n == 0 {
		t.Fatal("no goroutine of the Client's is running: the count below means nothing")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waits for them to be told and to finish their work; the
	// scheduler may take a moment to retire them.
	n := clientGoroutines()
	for i := 0; i < 10000 && n > 0; i++ {
		runtime.Gosched()
		n = clientGoroutines()
	}
	if n > 0 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d of the Client's goroutines still run after Close:\n%s", n, buf[:runtime.Stack(buf, true)])
	}
}

// clientGoroutines counts the goroutines running the Client's code.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "codeberg.org/ox/ox.(*Client)") {
			n++
		}
	}
	return n
}

// Every OX message stanza yields exactly one verdict, even one whose
// content cannot be read: a rejection with its reason, never silence.
func TestProcessRefusesUnreadable(t *testing.T) {
	c := openLocal(t)
	defer c.Close()
	for _, raw := range [][]byte{
		junk(1),
		[]byte(`<message xmlns="jabber:client" from="mallory@example.org/x" id="b64"><openpgp xmlns="urn:xmpp:openpgp:0">!!! not base64 !!!</openpgp></message>`),
	} {
		m, err := c.Process(context.Background(), ox.Incoming{Raw: raw, Origin: ox.OriginLive})
		if err != nil || m == nil || m.Err == nil || m.From.String() != "mallory@example.org/x" {
			t.Errorf("%s: %+v, %v", raw, m, err)
		}
	}
}

// A stanza with two <openpgp/>, or with one nested in another element, is
// refused with its reason, once, and nothing of it is shown.
func TestProcessRefusesMalformedOX(t *testing.T) {
	c := openLocal(t)
	defer c.Close()
	const el = `<openpgp xmlns="urn:xmpp:openpgp:0">bm90IGFuIE9wZW5QR1AgbWVzc2FnZQ==</openpgp>`
	for name, raw := range map[string]string{
		"two":    `<message xmlns="jabber:client" from="mallory@example.org/x" id="two">` + el + el + `</message>`,
		"nested": `<message xmlns="jabber:client" from="mallory@example.org/x" id="nested"><body>hi</body><x xmlns="urn:example">` + el + `</x></message>`,
	} {
		m, err := c.Process(context.Background(), ox.Incoming{Raw: []byte(raw), Origin: ox.OriginLive})
		if err != nil || m == nil || !errors.Is(m.Err, ox.ErrMalformedOX) || m.Body != "" {
			t.Errorf("%s: %+v, %v", name, m, err)
		}
	}
}

// A message that arrives while the account's key is locked (no passphrase
// at hand) is not lost as "rejected": it is kept, pending, and read once
// the key can be used.
func TestLockedKeyKeepsMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	var unlocked atomic.Bool
	passphrase := func(context.Context, pgp.Fingerprint) ([]byte, error) {
		if !unlocked.Load() {
			return nil, errors.New("no terminal to ask on")
		}
		return []byte("correct horse"), nil
	}
	b, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: bob, Dir: dir, Create: true, Passphrase: passphrase})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bk, err := b.Backend.Generate(ctx, bob, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry, Passphrase: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	a := openLocal(t)
	defer a.Close()
	ak, err := a.Backend.Generate(ctx, alice, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		from, to *ox.Client
		fpr      pgp.Fingerprint
	}{{a, b, ak.Fingerprint}, {b, a, bk.Fingerprint}} {
		pub, err := x.from.Backend.ExportPublic(ctx, x.fpr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.to.Backend.Import(ctx, pub); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := a.Seal(ctx, []jid.JID{bob}, []pgp.Fingerprint{bk.Fingerprint}, element.BodyPayload("while you were locked"))
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`<message xmlns="jabber:client" from="alice@example.org/x" to="bob@example.org" id="l1">` + string(element.MarshalOpenPGP(sealed.OpenPGP)) + `</message>`)
	m, err := b.Process(ctx, ox.Incoming{Raw: raw, Origin: ox.OriginLive})
	var ke *ox.KeptError
	if err != nil || m == nil || !m.Pending || !errors.Is(m.Err, ox.ErrPending) || !errors.As(m.Err, &ke) || m.Body != "" {
		t.Fatalf("with the key locked: %+v, %v", m, err)
	}
	if ms, err := b.RetryPending(ctx, jid.JID{}); err != nil || len(ms) != 0 {
		t.Fatalf("retried while still locked: %+v %v", ms, err)
	}
	unlocked.Store(true)
	ms, err := b.RetryPending(ctx, jid.JID{})
	if err != nil || len(ms) != 1 || ms[0].Err != nil || ms[0].Body != "while you were locked" {
		t.Fatalf("once unlocked: %+v %v", ms, err)
	}
}

// Messages kept in the inbox by a run that ended before it read them are
// read by the next one, first.
func TestInboxSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *ox.Client { return openLocalAt(t, dir) }
	c := open()
	// The first message holds the worker until Close ends it, so that
	// nothing kept in the store is read in this run.
	c.OnProcessed(func(ctx context.Context, _ *ox.Message) { <-ctx.Done() })
	// More than the queue holds in memory (4,096 jobs): the rest waits in
	// the store.
	const n = 4096 + 600
	for i := 0; i < n; i++ {
		c.Enqueue(ox.Incoming{Raw: junk(i), Origin: ox.OriginLive})
	}
	c.Close() // ends before reading what waits in the store

	c = open()
	defer c.Close()
	got := make(chan string, n)
	c.OnMessage = func(m *ox.Message) { got <- m.ID }
	c.Enqueue(ox.Incoming{Raw: junk(n), Origin: ox.OriginLive})
	var before []int
	for {
		var i int
		fmt.Sscanf(<-got, "m%d", &i)
		if i == n {
			break
		}
		if len(before) > 0 && i <= before[len(before)-1] {
			t.Fatalf("m%d after m%d: out of order", i, before[len(before)-1])
		}
		before = append(before, i)
	}
	// The first run read at most its in-memory queue; what it kept in the
	// store came now, before the new message.
	if len(before) == 0 || before[len(before)-1] != n-1 {
		t.Fatalf("read before the new message: %d kept ones, the last m%v; want them all, up to m%d", len(before), before, n-1)
	}
}

// A delay stamp counts only when the account's own server wrote it (the
// offline store): a sender that dates an old message itself does not get
// it past the time checks.
func TestDelayOnlyFromTheServer(t *testing.T) {
	ctx := context.Background()
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	yesterday := time.Now().Add(-24 * time.Hour)
	a, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: alice, Dir: t.TempDir(), Create: true, Now: func() time.Time { return yesterday }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// bob's key is made yesterday too (alice's clock would not take a
	// key from her future); bob reads today.
	bobDir := t.TempDir()
	b0, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: bob, Dir: bobDir, Create: true, Now: func() time.Time { return yesterday }})
	if err != nil {
		t.Fatal(err)
	}
	bk, err := b0.Backend.Generate(ctx, bob, pgp.GenerateOptions{})
	b0.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: bob, Dir: bobDir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ak, err := a.Backend.Generate(ctx, alice, pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		from, to *ox.Client
		fpr      pgp.Fingerprint
	}{{a, b, ak.Fingerprint}, {b, a, bk.Fingerprint}} {
		pub, _ := x.from.Backend.ExportPublic(ctx, x.fpr, nil)
		if _, err := x.to.Backend.Import(ctx, pub); err != nil {
			t.Fatal(err)
		}
	}
	stamp := yesterday.UTC().Format(time.RFC3339)
	for _, c := range []struct {
		delayFrom string
		ok        bool
	}{
		{"alice@example.org/phone", false}, // the sender's own claim
		{"example.org", true},              // the account's server: the offline store
	} {
		sealed, err := a.Seal(ctx, []jid.JID{bob}, []pgp.Fingerprint{bk.Fingerprint}, element.BodyPayload("from yesterday, via "+c.delayFrom))
		if err != nil {
			t.Fatal(err)
		}
		raw := `<message xmlns="jabber:client" from="alice@example.org/phone" to="bob@example.org"><delay xmlns="urn:xmpp:delay" from="` + c.delayFrom + `" stamp="` + stamp + `"/>` + string(element.MarshalOpenPGP(sealed.OpenPGP)) + `</message>`
		m, err := b.Process(ctx, ox.Incoming{Raw: []byte(raw), Origin: ox.OriginLive})
		if err != nil || m == nil || (m.Err == nil) != c.ok {
			t.Errorf("delay from %s: %+v, %v; accepted: want %v", c.delayFrom, m, err, c.ok)
		}
	}
}

// A reader that has had enough stops the Client from OnMessage: nothing
// after that message is judged or handed over, and a feature that waits on
// the worker (Do: the archive's catch-up) is told the Client is closed
// instead of waiting for ever.
func TestStopReading(t *testing.T) {
	c := openLocal(t)
	defer c.Close()
	got := make(chan string, 100)
	c.OnMessage = func(m *ox.Message) {
		got <- m.ID
		c.StopReading()
	}
	for i := 0; i < 50; i++ {
		c.Enqueue(ox.Incoming{Raw: junk(i), Origin: ox.OriginLive})
	}
	if id := <-got; id != "m0" {
		t.Fatalf("first handed over: %s, want m0", id)
	}
	ran := false
	if err := c.Do(context.Background(), func(context.Context) { ran = true }); !errors.Is(err, ox.ErrClosed) || ran {
		t.Errorf("Do after StopReading: %v (ran %v), want ErrClosed, not run", err, ran)
	}
	c.Close()
	close(got)
	for id := range got {
		t.Errorf("%s handed over after StopReading", id)
	}
}

// A verdict reached as the Client closes (its context cancelled: a lost
// connection) is recorded and handed over together: a message recorded as
// handed over but not handed over is one that no later copy (the archive,
// a resumed stream) brings back. Before, the store could report the
// cancelled write as failed after making it, and the message was dropped
// while its record stayed: the listen soak lost one in about five runs.
func TestVerdictAsTheClientCloses(t *testing.T) {
	c := openLocal(t)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := ox.Incoming{Raw: []byte(`<message xmlns="jabber:client" from="mallory@example.org/x" id="bad"><openpgp`), StanzaID: "sid-1", Origin: ox.OriginLive}
	m, err := c.Process(ctx, in)
	if err != nil || m == nil || m.Err == nil {
		t.Fatalf("Process with the context ended: %v, %v; want the message, refused", m, err)
	}
	if seen, err := c.Seen(context.Background(), "sid-1"); err != nil || !seen {
		t.Fatalf("recorded: %v, %v; want true", seen, err)
	}
	if m, err := c.Process(context.Background(), in); err != nil || m != nil {
		t.Errorf("the same stanza again: %v, %v; want nothing (a repeat)", m, err)
	}
}

// A reader that stops while reading the inbox (listen --count) leaves the
// rest there for the next run, and nothing it showed comes again: what it
// read is forgotten in batches, and a message read but not yet forgotten
// is recognised as the repeat it is.
func TestInboxStoppedHalfWay(t *testing.T) {
	dir := t.TempDir()
	open := func() *ox.Client { return openLocalAt(t, dir) }
	in := func(i int) ox.Incoming {
		return ox.Incoming{Raw: junk(i), Origin: ox.OriginLive, StanzaID: fmt.Sprintf("s%d", i)}
	}
	const n, stop = 4096 + 600, 4096 + 10 // past the in-memory queue: in the inbox
	c := open()
	release := make(chan struct{})
	shown := map[string]int{}
	var mu sync.Mutex
	c.OnMessage = func(m *ox.Message) {
		<-release
		mu.Lock()
		shown[m.ID]++
		mu.Unlock()
		if m.ID == fmt.Sprintf("m%d", stop) {
			c.StopReading()
		}
	}
	for i := 0; i < n; i++ {
		c.Enqueue(in(i))
	}
	close(release)
	// The worker stops at the stop-th message; Do is then refused.
	for c.Do(context.Background(), func(context.Context) {}) == nil {
	}
	c.Close()
	if len(shown) != stop+1 {
		t.Fatalf("the first run showed %d messages, want %d", len(shown), stop+1)
	}

	c = open()
	defer c.Close()
	got := make(chan string, n)
	c.OnMessage = func(m *ox.Message) { got <- m.ID }
	c.Enqueue(in(n))
	for want := stop + 1; ; want++ {
		id := <-got
		if id == fmt.Sprintf("m%d", n) {
			if want != n {
				t.Fatalf("the new message came after m%d: m%d to m%d were lost", want-1, want, n-1)
			}
			break
		}
		if id != fmt.Sprintf("m%d", want) {
			t.Fatalf("got %s, want m%d (shown before, or out of order)", id, want)
		}
	}
	for id, k := range shown {
		if k != 1 {
			t.Errorf("%s shown %d times by the first run", id, k)
		}
	}
}
