package ox_test

// The network cost of key distribution (issue 5), measured against a real
// Prosody: the bytes and round trips of an account with 100 contacts that
// comes online (the first time, with an empty key store, and again when
// nothing changed), when one contact publishes a new key, and when the
// account sends its first message to someone it never fetched keys from;
// each for the spec's node layout and for the compact one. Last, whether
// ox refuses a message that would exceed the server's stanza size limit
// before it sends it.
//
// It is a benchmark so that `go test ./...` never runs it (the set-up
// registers and logs in 102 accounts); run it once per layout:
//
//	go test -run '^$' -bench '^BenchmarkTraffic$' -benchtime 1x .
//
// or `go run ./bench -traffic`, which prints the table. The account's own
// connection is counted twice: on the TCP connection (wire bytes, TLS
// included) and as the XML it reads and writes (mellium's stream tee), where
// the stanzas are sorted into what key distribution costs (PEP
// notifications, pubsub requests and their answers) and the rest.

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

const trafficContacts = 100

// trafficCounter counts one connection: wire bytes below TLS, and the XML
// above it.
type trafficCounter struct {
	wireIn, wireOut atomic.Int64
	mu              sync.Mutex
	xmlIn, xmlOut   bytes.Buffer
}

type countingConn struct {
	net.Conn
	c *trafficCounter
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.wireIn.Add(int64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.wireOut.Add(int64(n))
	return n, err
}

type teeWriter struct {
	c  *trafficCounter
	in bool
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.in {
		return t.c.xmlIn.Write(p)
	}
	return t.c.xmlOut.Write(p)
}

// trafficMark is a point in a connection's traffic.
type trafficMark struct {
	wireIn, wireOut int64
	xmlIn, xmlOut   int
	at              time.Time
}

func (c *trafficCounter) mark() trafficMark {
	c.mu.Lock()
	defer c.mu.Unlock()
	return trafficMark{c.wireIn.Load(), c.wireOut.Load(), c.xmlIn.Len(), c.xmlOut.Len(), time.Now()}
}

// trafficDial logs local in as ox.Dial does (STARTTLS, SCRAM, bind), over a
// counted connection.
func trafficDial(ctx context.Context, srv *prosody.Server, local string) (*xmpp.Session, *trafficCounter, error) {
	c := &trafficCounter{}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, nil, err
	}
	origin := jid.MustParse(local + "@" + srv.Domain)
	features := []xmpp.StreamFeature{
		xmpp.StartTLS(srv.TLSConfig()),
		xmpp.SASL("", local+"-pass", sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource(),
	}
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, countingConn{raw, c}, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: features, TeeIn: teeWriter{c, true}, TeeOut: teeWriter{c, false}}
	}))
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	return sess, c, nil
}

// trafficFigures are one phase's costs on the account's connection.
type trafficFigures struct {
	WireOut, WireIn int64
	XMLOut, XMLIn   int
	// KeyOut, KeyIn are the XML bytes of key distribution: pubsub
	// requests and answers, and PEP notifications.
	KeyOut, KeyIn int
	// RoundTrips are the pubsub requests the account made (each waits for
	// its answer: ox makes them one after the other); OtherIQs the rest it
	// sent (pings, answers to the server's disco#info).
	RoundTrips, OtherIQs int
	ServerIQs            int // requests the server sent (disco#info for caps)
	Pushes               int // PEP notifications received
	Presences            int // presence stanzas received
	Messages             int // other messages sent
	Elapsed              time.Duration
}

// since counts what passed on c after m.
func (c *trafficCounter) since(m trafficMark) trafficFigures {
	c.mu.Lock()
	out := append([]byte(nil), c.xmlOut.Bytes()[m.xmlOut:]...)
	in := append([]byte(nil), c.xmlIn.Bytes()[m.xmlIn:]...)
	c.mu.Unlock()
	f := trafficFigures{WireOut: c.wireOut.Load() - m.wireOut, WireIn: c.wireIn.Load() - m.wireIn, XMLOut: len(out), XMLIn: len(in), Elapsed: time.Since(m.at)}
	pubsubIDs := map[string]bool{}
	for _, s := range stanzasOf(out) {
		switch {
		case s.name == "iq" && (s.typ == "get" || s.typ == "set") && strings.HasPrefix(s.child, "http://jabber.org/protocol/pubsub"):
			f.RoundTrips++
			f.KeyOut += s.size
			pubsubIDs[s.id] = true
		case s.name == "iq" && (s.typ == "get" || s.typ == "set"):
			f.OtherIQs++
		case s.name == "iq" && s.child == "http://jabber.org/protocol/disco#info":
			f.KeyOut += s.size // the caps answer that +notify needs
		case s.name == "message":
			f.Messages++
		}
	}
	for _, s := range stanzasOf(in) {
		switch {
		case s.name == "message" && s.event:
			f.Pushes++
			f.KeyIn += s.size
		case s.name == "iq" && pubsubIDs[s.id]:
			f.KeyIn += s.size
		case s.name == "iq" && s.child == "http://jabber.org/protocol/disco#info":
			f.KeyIn += s.size
			if s.typ == "get" {
				f.ServerIQs++
			}
		case s.name == "presence":
			f.Presences++
		}
	}
	return f
}

type trafficStanza struct {
	name, typ, id, child string
	event                bool
	size                 int
}

// stanzasOf reads the top-level elements of an XML stream fragment.
func stanzasOf(data []byte) []trafficStanza {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	var out []trafficStanza
	var cur *trafficStanza
	depth := 0
	var start int64
	for {
		before := d.InputOffset()
		tok, err := d.RawToken() // no namespace checks: the stream header is not in data
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start = before
				cur = &trafficStanza{name: t.Name.Local}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "type":
						cur.typ = a.Value
					case "id":
						cur.id = a.Value
					}
				}
			}
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" {
					if depth == 1 && cur.child == "" {
						cur.child = a.Value
					}
					if a.Value == "http://jabber.org/protocol/pubsub#event" {
						cur.event = true
					}
				}
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 && cur != nil {
				cur.size = int(d.InputOffset() - start)
				out = append(out, *cur)
				cur = nil
			}
		}
	}
}

func (f trafficFigures) report(b *testing.B) {
	b.ReportMetric(float64(f.WireOut), "wireB-out")
	b.ReportMetric(float64(f.WireIn), "wireB-in")
	b.ReportMetric(float64(f.XMLOut), "xmlB-out")
	b.ReportMetric(float64(f.XMLIn), "xmlB-in")
	b.ReportMetric(float64(f.KeyOut), "keyB-out")
	b.ReportMetric(float64(f.KeyIn), "keyB-in")
	b.ReportMetric(float64(f.RoundTrips), "roundtrips")
	b.ReportMetric(float64(f.OtherIQs), "otherIQs")
	b.ReportMetric(float64(f.ServerIQs), "serverIQs")
	b.ReportMetric(float64(f.Pushes), "pushes")
	b.ReportMetric(float64(f.Presences), "presences")
	b.ReportMetric(float64(f.Elapsed.Microseconds())/1000, "ms")
}

// trafficWait waits until cond holds and then until the connection has
// been quiet for a while, so that nothing still in flight is missed.
func trafficWait(ctx context.Context, c *trafficCounter, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	last := c.mark()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		now := c.mark()
		if now.wireIn == last.wireIn && now.wireOut == last.wireOut {
			return nil
		}
		last = now
	}
}

// trafficPeer is an account with a published key, set up untimed.
type trafficPeer struct {
	local string
	dir   string
	fpr   pgp.Fingerprint
}

// trafficLogin logs local in with ox.Dial and serves the session.
func trafficLogin(ctx context.Context, srv *prosody.Server, local, dir string, layout ox.Layout) (*ox.Client, func(), error) {
	st, err := store.Open(ctx, filepath.Join(dir, "ox.db"))
	if err != nil {
		return nil, nil, err
	}
	s, err := srv.Dial(ctx, local, local+"-pass", "")
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	c := ox.NewClient(s, native.New(st), st)
	c.Layout = layout
	served := make(chan struct{})
	go func() { c.Serve(nil); close(served) }()
	return c, func() {
		ox.CloseSession(s)
		select {
		case <-served:
		case <-time.After(5 * time.Second):
		}
		st.Close()
	}, nil
}

// trafficPublish logs local in, makes a key and publishes it; with
// subscribe, local and the account (served session me) subscribe to each
// other's presence, as contacts do.
func trafficPublish(ctx context.Context, srv *prosody.Server, local, dir string, layout ox.Layout, me *xmpp.Session) (trafficPeer, error) {
	c, done, err := trafficLogin(ctx, srv, local, dir, layout)
	if err != nil {
		return trafficPeer{}, err
	}
	defer done()
	k, err := c.Backend.Generate(ctx, c.JID(), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		return trafficPeer{}, err
	}
	if _, err := c.Publish(ctx, k.Fingerprint); err != nil {
		return trafficPeer{}, err
	}
	if me != nil {
		if err := prosody.SubscribeMutually(ctx, me, c.Session); err != nil {
			return trafficPeer{}, err
		}
	}
	return trafficPeer{local: local, dir: dir, fpr: k.Fingerprint}, nil
}

// BenchmarkTraffic measures key distribution on the wire; see the file
// comment. Each phase runs once, whatever b.N.
func BenchmarkTraffic(b *testing.B) {
	if err := prosody.Available(); err != nil && !prosody.Required() {
		// go test prints a skipped benchmark's reason only with -v.
		fmt.Printf("--- SKIP: %s\n    %v\n", b.Name(), err)
		b.Skip(err)
	}
	for _, layout := range []ox.Layout{ox.LayoutSpec, ox.LayoutCompact} {
		name := map[ox.Layout]string{ox.LayoutSpec: "spec", ox.LayoutCompact: "compact"}[layout]
		b.Run(name, func(b *testing.B) { benchTraffic(b, layout) })
	}
}

func benchTraffic(b *testing.B, layout ox.Layout) {
	accounts := map[string]string{"me": "me-pass", "newbie": "newbie-pass"}
	for i := 0; i < trafficContacts; i++ {
		accounts[fmt.Sprintf("c%03d", i)] = fmt.Sprintf("c%03d-pass", i)
	}
	setupStart := time.Now()
	srv := prosody.StartT(b, prosody.Options{Accounts: accounts})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Set-up, untimed: the account's own key, 100 contacts with published
	// keys and mutual presence subscriptions, and one stranger (newbie)
	// with a published key.
	meDir := b.TempDir()
	meSetup, meDone, err := trafficLogin(ctx, srv, "me", meDir, layout)
	if err != nil {
		b.Fatal(err)
	}
	mk, err := meSetup.Backend.Generate(ctx, meSetup.JID(), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := meSetup.Publish(ctx, mk.Fingerprint); err != nil {
		b.Fatal(err)
	}
	contacts := make([]trafficPeer, trafficContacts)
	work := make(chan int)
	errs := make(chan error, trafficContacts)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p, err := trafficPublish(ctx, srv, fmt.Sprintf("c%03d", i), b.TempDir(), layout, meSetup.Session)
				if err != nil {
					errs <- fmt.Errorf("contact %d: %w", i, err)
					continue
				}
				contacts[i] = p
			}
		}()
	}
	for i := 0; i < trafficContacts; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	newbie, err := trafficPublish(ctx, srv, "newbie", b.TempDir(), layout, nil)
	if err != nil {
		b.Fatal(err)
	}
	meDone()
	setup := time.Since(setupStart)
	b.Run("setup", func(b *testing.B) {
		b.Logf("set-up: Prosody, %d accounts registered, %d keys published, %d subscriptions, in %v", trafficContacts+2, trafficContacts+2, trafficContacts, setup.Round(time.Millisecond))
		b.ReportMetric(float64(setup.Milliseconds()), "ms")
	})

	// The account's device: its store holds its own key and nothing else.
	st, err := store.Open(ctx, filepath.Join(meDir, "ox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	be := native.New(st)
	reports := make(chan *ox.FetchReport, 4*trafficContacts)
	var failures atomic.Int64
	onEvent := func(_ context.Context, _ pep.Event, rep *ox.FetchReport, err error) {
		if err != nil {
			failures.Add(1)
			b.Logf("following a notification: %v", err)
			return
		}
		reports <- rep
	}
	var (
		client   *ox.Client
		counter  *trafficCounter
		closeMe  func()
		served   chan struct{}
		serveErr error
	)
	online := func() (trafficMark, error) {
		m0 := time.Now()
		sess, c, err := trafficDial(ctx, srv, "me")
		if err != nil {
			return trafficMark{}, err
		}
		counter = c
		client = ox.NewClient(sess, be, st)
		client.Layout = layout
		served = make(chan struct{})
		go func() { serveErr = client.Serve(onEvent); close(served) }()
		closeMe = func() {
			ox.CloseSession(sess)
			select {
			case <-served:
			case <-time.After(5 * time.Second):
			}
		}
		m := counter.mark()
		m.at = m0
		return m, client.Online(ctx)
	}
	// waitContacts waits for a report on every contact; want says which
	// reports count.
	waitContacts := func(want func(*ox.FetchReport) bool) func() bool {
		seen := map[string]bool{}
		return func() bool {
			for {
				select {
				case rep := <-reports:
					if strings.HasPrefix(rep.JID.Localpart(), "c") && want(rep) {
						seen[rep.JID.Localpart()] = true
					}
					continue
				default:
				}
				return len(seen) == trafficContacts
			}
		}
	}
	// phase runs once, whatever b.N the benchmark framework asks for.
	phase := func(name string, run func(b *testing.B) trafficFigures) {
		var f trafficFigures
		var ran bool
		b.Run(name, func(b *testing.B) {
			if !ran {
				f, ran = run(b), true
			}
			f.report(b)
		})
	}
	phase("online-first", func(b *testing.B) trafficFigures {
		m, err := online()
		if err != nil {
			b.Fatal(err)
		}
		if err := trafficWait(ctx, counter, waitContacts(func(r *ox.FetchReport) bool { return len(r.Imported) == 1 })); err != nil {
			b.Fatalf("not every contact's key arrived: %v", err)
		}
		return counter.since(m)
	})
	closeMe()
	phase("online-again", func(b *testing.B) trafficFigures {
		m, err := online()
		if err != nil {
			b.Fatal(err)
		}
		if err := trafficWait(ctx, counter, waitContacts(func(r *ox.FetchReport) bool { return len(r.Imported) == 0 && len(r.Unchanged) == 1 })); err != nil {
			b.Fatalf("not every contact was checked: %v", err)
		}
		return counter.since(m)
	})
	phase("key-change", func(b *testing.B) trafficFigures {
		c, done, err := trafficLogin(ctx, srv, contacts[0].local, contacts[0].dir, layout)
		if err != nil {
			b.Fatal(err)
		}
		defer done()
		k, err := c.Backend.Generate(ctx, c.JID(), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
		if err != nil {
			b.Fatal(err)
		}
		m := counter.mark()
		if _, err := c.Publish(ctx, k.Fingerprint); err != nil {
			b.Fatal(err)
		}
		got := false
		if err := trafficWait(ctx, counter, func() bool {
			for {
				select {
				case rep := <-reports:
					for _, ki := range rep.Imported {
						got = got || ki.Fingerprint == k.Fingerprint
					}
					continue
				default:
				}
				return got
			}
		}); err != nil {
			b.Fatalf("the new key did not arrive: %v", err)
		}
		return counter.since(m)
	})
	phase("first-message", func(b *testing.B) trafficFigures {
		m := counter.mark()
		rep, err := client.Send(ctx, jid.MustParse("newbie@"+srv.Domain), "Hello! We have not talked before.")
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Recipients) != 1 || rep.Recipients[0] != newbie.fpr {
			b.Fatalf("sent to %v, want newbie's key %s", rep.Recipients, newbie.fpr)
		}
		if err := trafficWait(ctx, counter, func() bool { return true }); err != nil {
			b.Fatal(err)
		}
		return counter.since(m)
	})
	// A message whose stanza exceeds Prosody's default limit (256 KiB):
	// ox should refuse it before sending; the server otherwise ends the
	// stream.
	tooLargeDone := false
	b.Run("too-large", func(b *testing.B) {
		if tooLargeDone {
			return
		}
		tooLargeDone = true
		body := strings.Repeat("x", 200<<10)
		m := counter.mark()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := client.Send(sctx, jid.MustParse("newbie@"+srv.Domain), body)
		f := counter.since(m)
		select {
		case <-served:
			b.Logf("too-large: the session ended after %v: %v", f.Elapsed.Round(time.Millisecond), serveErr)
		default:
		}
		sent := f.Messages > 0
		switch {
		case err == nil:
			b.Logf("too-large: Send of a %d KiB body returned no error (%d bytes written)", len(body)>>10, f.XMLOut)
		case !sent:
			b.Logf("too-large: refused before sending: %v", err)
		default:
			b.Logf("too-large: NOT refused by ox: it sent the %d-byte stanza and the server answered: %v", f.XMLOut, err)
		}
		var refused float64
		if err != nil && !sent {
			refused = 1
		}
		b.ReportMetric(refused, "refused")
		b.ReportMetric(float64(f.XMLOut), "xmlB-out")
	})
	closeMe()
	if n := failures.Load(); n > 0 {
		b.Errorf("%d notifications could not be followed", n)
	}
}
