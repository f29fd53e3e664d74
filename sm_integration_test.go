package ox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/faultproxy"
	"codeberg.org/ox/ox/internal/testenv"
)

// A connection that dies with a message and the archive's answer to a
// catch-up on their way: after the next logins (online, then the catch-up,
// as ox does) the message is shown once and nothing is refused, whether
// the server kept it for ox (stream management, XEP-0198: stored offline)
// or left it to the archive.
func TestIntegrationStreamManagement(t *testing.T) {
	onEachServer(t, testIntegrationStreamManagement, "alice", "bob")
}

func testIntegrationStreamManagement(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	proxy := faultproxy.StartT(t, srv.Addr)
	dir := t.TempDir()
	bobIn := make(inbox, 32)
	// login logs bob in as ox does: online, then the catch-up from the
	// archive (the first marks where the archive stands).
	login := func(keygen bool) *device {
		t.Helper()
		b := newDeviceVia(ctx, t, srv, proxy.Addr, "bob", dir, keygen, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { bobIn <- m } }, nil)
		if err := b.Online(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Archive.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		return b
	}
	bob := login(true)
	if _, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	send := func(text string) {
		t.Helper()
		if _, err := alice.Send(ctx, bob.jid, text); err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
	}
	got := map[string]int{}
	// until reads bob's messages up to the one with text last.
	until := func(last string) {
		t.Helper()
		for {
			m := bobIn.next(t, "up to "+last)
			t.Logf("bob: %q (%v)", m.Body, m.Origin)
			if m.Err != nil {
				t.Errorf("bob: refused %+v: %v", m, m.Err)
				continue
			}
			got[m.Body]++
			if m.Body == last {
				return
			}
		}
	}
	// heldDown waits until the proxy holds more of the server's bytes
	// than before: the server has written into the stalled connection.
	heldDown := func(before int64, what string) {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for proxy.Arrived(faultproxy.Down) < before+200 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("the server never wrote %s", what)
			}
		}
	}

	send("warm")
	until("warm")

	proxy.Stall(faultproxy.Down)
	before := proxy.Arrived(faultproxy.Down)
	send("in flight")
	heldDown(before, "the message")
	caught := make(chan error, 1)
	go func() { _, err := bob.Archive.CatchUp(ctx); caught <- err }()
	heldDown(proxy.Arrived(faultproxy.Down), "the archive's results")
	proxy.Cut() // what the proxy holds is lost with the connection
	proxy.Resume(faultproxy.Down)
	if err := <-caught; !errors.Is(err, ox.ErrConnectionLost) {
		t.Errorf("the catch-up on the cut connection: %v, want ErrConnectionLost", err)
	}
	bob.Close(t)

	// Logging in twice: the server stores what was not acknowledged when
	// it ends the old session, which may be after the next login.
	for _, last := range []string{"end", "end again"} {
		bob = login(false)
		send(last)
		until(last)
		bob.Close(t)
	}
	for _, w := range []string{"warm", "in flight", "end", "end again"} {
		if got[w] != 1 {
			t.Errorf("bob saw %q %d times, want once", w, got[w])
		}
		delete(got, w)
	}
	if len(got) > 0 {
		t.Errorf("bob saw unexpected messages %v", got)
	}
}

// A copy that comes back with another child beside its wrapper (ejabberd
// resends an unacknowledged archive result with a <delay/> after it) is
// still the wrapper's: the archive's handler takes it or leaves it, and it
// is not refused as a malformed message whose <openpgp/> is nested.
func TestIntegrationResentWrapper(t *testing.T) {
	srv := startServer(t, "alice", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, aliceIn := listening(ctx, t, srv, "alice")
	bob, _ := listening(ctx, t, srv, "bob")
	other, err := srv.Dial(ctx, "alice", "alice-pass", "other")
	if err != nil {
		t.Fatal(err)
	}
	defer testenv.CloseSession(other)
	const stamp = "2026-12-04T09:00:00Z"
	for _, wrapper := range []string{
		`<result xmlns="urn:xmpp:mam:2" queryid="gone" id="a1"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="` + stamp + `"/>` +
			`<message xmlns="jabber:client" from="` + bob.jid.String() + `" to="` + alice.jid.Bare().String() + `" type="chat" id="r1"><openpgp xmlns="urn:xmpp:openpgp:0">AAAA</openpgp></message></forwarded></result>`,
		`<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
			`<message xmlns="jabber:client" from="` + bob.jid.String() + `" to="` + alice.jid.Bare().String() + `" type="chat" id="r2"><openpgp xmlns="urn:xmpp:openpgp:0">AAAA</openpgp></message></forwarded></received>`,
	} {
		raw := `<message xmlns="jabber:client" to="` + alice.jid.String() + `">` + wrapper +
			`<delay xmlns="urn:xmpp:delay" from="` + srv.Domain + `" stamp="` + stamp + `">Resent</delay></message>`
		if err := other.Send(ctx, rawReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.Send(ctx, alice.jid, "end"); err != nil {
		t.Fatal(err)
	}
	if m := aliceIn.next(t, "end"); m.Err != nil || m.Body != "end" {
		t.Fatalf("alice's first verdict: %q %v; want the message after the resent copies", m.Body, m.Err)
	}
}

// resuming is bob logging in through a proxy with resumption asked for,
// and alice listening.
type resuming struct {
	t       *testing.T
	ctx     context.Context
	srv     *testenv.Server
	alice   *device
	aliceIn inbox
	proxy   *faultproxy.Proxy
	dir     string // bob's store, kept from one login to the next
	bobIn   inbox
	save    func(*ox.Resumption) // Account.SaveResumption
}

func newResuming(ctx context.Context, t *testing.T, srv *testenv.Server) *resuming {
	alice, aliceIn := listening(ctx, t, srv, "alice")
	return &resuming{t: t, ctx: ctx, srv: srv, alice: alice, aliceIn: aliceIn, proxy: faultproxy.StartT(t, srv.Addr), dir: t.TempDir(), bobIn: make(inbox, 32)}
}

// login logs bob in, resuming r if given.
func (w *resuming) login(keygen bool, r *ox.Resumption) (*device, ox.Negotiated) {
	w.t.Helper()
	return newDeviceDialed(w.ctx, w.t, w.srv, "bob", w.dir, keygen, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { w.bobIn <- m } }, nil,
		func(a *ox.Account) { a.Server, a.Resumable, a.Resume, a.SaveResumption = w.proxy.Addr, true, r, w.save })
}

// first is bob's first login: a key published, presence sent, and a
// message from alice read.
func (w *resuming) first() (*device, ox.Negotiated) {
	w.t.Helper()
	bob, neg := w.login(true, nil)
	if err := bob.Online(w.ctx); err != nil {
		w.t.Fatal(err)
	}
	if _, err := bob.Publish(w.ctx, bob.key.Fingerprint); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.alice.Send(w.ctx, bob.jid, "warm"); err != nil {
		w.t.Fatal(err)
	}
	if m := w.bobIn.next(w.t, "warm"); m.Body != "warm" {
		w.t.Fatalf("bob: %q %v", m.Body, m.Err)
	}
	return bob, neg
}

// A session whose connection is lost is taken over by the next login
// (XEP-0198 §5): the server sends again the message it had written into
// the dead connection, ox sends again the one the server never got, and
// the session goes on with its address, without a presence or a catch-up.
func TestIntegrationResume(t *testing.T) {
	onEachServer(t, testIntegrationResume, "alice", "bob")
}

func testIntegrationResume(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	w := newResuming(ctx, t, srv)
	alice, aliceIn, proxy, bobIn, login := w.alice, w.aliceIn, w.proxy, w.bobIn, w.login
	bob, neg := w.first()
	if !neg.StreamManagement || neg.Resumed {
		t.Fatalf("first login: %+v, want stream management, not resumed", neg)
	}
	first := bob.JID()

	// Both ways stalled: what either side writes is held, then lost.
	proxy.Stall(faultproxy.Down)
	proxy.Stall(faultproxy.Up)
	down, up := proxy.Arrived(faultproxy.Down), proxy.Arrived(faultproxy.Up)
	if _, err := alice.Send(ctx, bob.jid, "to bob in flight"); err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { _, err := bob.Send(ctx, alice.jid, "from bob in flight"); sent <- err }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for proxy.Arrived(faultproxy.Down) < down+200 || proxy.Arrived(faultproxy.Up) < up+200 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the messages never reached the proxy")
		}
	}
	proxy.Cut()
	proxy.Resume(faultproxy.Down)
	proxy.Resume(faultproxy.Up)
	if err := <-sent; err == nil {
		t.Error("bob's send on the cut connection succeeded; want its outcome unknown")
	}
	bob.Close(t)
	r := ox.ResumptionOf(bob.Session)
	if r == nil {
		t.Fatal("the lost session left nothing to resume")
	}

	bob, neg = login(false, r)
	if !neg.Resumed {
		t.Fatalf("second login: %+v, want the session resumed", neg)
	}
	if !bob.JID().Equal(first) {
		t.Errorf("resumed as %s, want %s", bob.JID(), first)
	}
	if m := bobIn.next(t, "the message resent by the server"); m.Body != "to bob in flight" || m.Err != nil {
		t.Errorf("bob: %q %v, want the message in flight", m.Body, m.Err)
	}
	if m := aliceIn.next(t, "the message resent by bob"); m.Body != "from bob in flight" || m.Err != nil {
		t.Errorf("alice: %q %v, want bob's message in flight", m.Body, m.Err)
	}
	// The resumed session is the one the server routes to.
	if _, err := alice.Send(ctx, bob.jid, "after"); err != nil {
		t.Fatal(err)
	}
	if m := bobIn.next(t, "after"); m.Body != "after" {
		t.Errorf("bob: %q %v, want after", m.Body, m.Err)
	}
	select {
	case m := <-bobIn:
		t.Errorf("bob saw more: %q", m.Body)
	case m := <-aliceIn:
		t.Errorf("alice saw more: %q", m.Body)
	default:
	}
}

// A process that dies without closing its session leaves the server
// holding it, and what comes for the account meanwhile waits there; the
// Resumption it saved (Account.SaveResumption) lets the next process take
// the session over and read it.
func TestIntegrationResumeAfterACrash(t *testing.T) {
	onEachServer(t, testIntegrationResumeAfterACrash, "alice", "bob")
}

func testIntegrationResumeAfterACrash(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	w := newResuming(ctx, t, srv)
	alice, proxy, bobIn := w.alice, w.proxy, w.bobIn
	var mu sync.Mutex
	var saved []byte
	w.save = func(r *ox.Resumption) {
		b, err := r.MarshalText()
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		saved = b
		mu.Unlock()
	}
	bob, _ := w.first()
	// The process dies: its connection closes, nothing is said.
	proxy.Cut()
	if _, err := alice.Send(ctx, bob.jid, "while bob was gone"); err != nil {
		t.Fatal(err)
	}
	bob.Close(t)
	mu.Lock()
	text := saved
	mu.Unlock()
	r, err := ox.ParseResumption(text)
	if err != nil {
		t.Fatalf("what bob saved (%s): %v", text, err)
	}
	_, neg := w.login(false, r)
	if !neg.Resumed {
		t.Fatalf("the next process: %+v, want the session resumed", neg)
	}
	if m := bobIn.next(t, "the message the server kept"); m.Body != "while bob was gone" || m.Err != nil {
		t.Errorf("bob: %q %v, want the message sent while he was gone", m.Body, m.Err)
	}
}

// A message whose send ended with its outcome unknown (the connection was
// lost before the server confirmed it) is settled by the session that
// takes the lost one over (Client.Confirm): the server had it, or ox sent
// it again on resuming; either way it is delivered once. A new login
// cannot tell, and says so.
func TestIntegrationConfirmAfterResume(t *testing.T) {
	onEachServer(t, testIntegrationConfirmAfterResume, "alice", "bob")
}

func testIntegrationConfirmAfterResume(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	w := newResuming(ctx, t, srv)
	bob, _ := w.first()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// lose sends body from bob with the ways in stall stalled, waits
	// until ready says the send is where it should be, and cuts the
	// connection: the send's outcome is unknown.
	lose := func(body string, stall []faultproxy.Direction, ready func() bool) *ox.UnknownOutcomeError {
		t.Helper()
		for _, d := range stall {
			w.proxy.Stall(d)
		}
		sent := make(chan error, 1)
		go func() { _, err := bob.Send(ctx, w.alice.jid, body); sent <- err }()
		for !ready() {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%s: never got where it should", body)
			}
		}
		w.proxy.Cut()
		for _, d := range stall {
			w.proxy.Resume(d)
		}
		err := <-sent
		var uo *ox.UnknownOutcomeError
		if !errors.As(err, &uo) || uo.Report == nil {
			t.Fatalf("%s: the send on the cut connection: %v; want its outcome unknown, with its report", body, err)
		}
		bob.Close(t)
		return uo
	}
	settled := func(body string, uo *ox.UnknownOutcomeError) {
		t.Helper()
		if err := bob.Confirm(ctx, uo); err != nil {
			t.Errorf("%s: Confirm on the resumed session: %v; want it confirmed", body, err)
		}
	}

	// The server read the message; its confirmation was lost.
	up := w.proxy.Bytes(faultproxy.Up)
	uo := lose("reached the server", []faultproxy.Direction{faultproxy.Down}, func() bool {
		// alice has it: the server had read it.
		select {
		case m := <-w.aliceIn:
			if m.Body != "reached the server" || m.Err != nil {
				t.Fatalf("alice: %q %v", m.Body, m.Err)
			}
			return true
		default:
			return false
		}
	})
	if w.proxy.Bytes(faultproxy.Up) <= up {
		t.Fatal("nothing went up")
	}
	bob, neg := w.login(false, ox.ResumptionOf(bob.Session))
	if !neg.Resumed {
		t.Fatalf("%+v, want the session resumed", neg)
	}
	settled("reached the server", uo)

	// The server never read it: ox sends it again on resuming.
	up = w.proxy.Arrived(faultproxy.Up)
	uo = lose("never reached the server", []faultproxy.Direction{faultproxy.Up, faultproxy.Down}, func() bool {
		return w.proxy.Arrived(faultproxy.Up) >= up+200
	})
	bob, neg = w.login(false, ox.ResumptionOf(bob.Session))
	if !neg.Resumed {
		t.Fatalf("%+v, want the session resumed", neg)
	}
	settled("never reached the server", uo)
	if m := w.aliceIn.next(t, "the message resent on resuming"); m.Body != "never reached the server" || m.Err != nil {
		t.Fatalf("alice: %q %v, want the message bob sent again", m.Body, m.Err)
	}

	// A new login: what the lost session had not handled is gone.
	up = w.proxy.Arrived(faultproxy.Up)
	uo = lose("lost with the session", []faultproxy.Direction{faultproxy.Up, faultproxy.Down}, func() bool {
		return w.proxy.Arrived(faultproxy.Up) >= up+200
	})
	bob, neg = w.login(false, nil)
	if neg.Resumed {
		t.Fatalf("%+v, want a new session", neg)
	}
	if err := bob.Confirm(ctx, uo); err != uo {
		t.Errorf("Confirm on a new session: %v; want the outcome still unknown (%v)", err, uo)
	}

	// Each message once: the next alice sees is the last one.
	if _, err := bob.Send(ctx, w.alice.jid, "the end"); err != nil {
		t.Fatal(err)
	}
	if m := w.aliceIn.next(t, "the end"); m.Body != "the end" {
		t.Errorf("alice: %q %v, want the end (each message once)", m.Body, m.Err)
	}
}

// A server that restarts cannot resume the lost session. Prosody says how
// many of its stanzas it had handled (<failed h='…'/>, XEP-0198 §5): a
// message it never read is sent again on the new session, one it read is
// not, and Confirm settles both, each read once. A server that does not
// say (ejabberd) leaves the outcome unknown, and nothing is sent again.
func TestIntegrationConfirmAfterRestart(t *testing.T) {
	onEachServer(t, testIntegrationConfirmAfterRestart, "alice", "bob")
}

func testIntegrationConfirmAfterRestart(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	// alice keeps her store across the restart: bob's messages are
	// encrypted to her key.
	aliceDir := t.TempDir()
	aliceIn := make(inbox, 32)
	aliceLogin := func(keygen bool) *device {
		a, _ := newDeviceDialed(ctx, t, srv, "alice", aliceDir, keygen, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { aliceIn <- m } }, nil, func(*ox.Account) {})
		if keygen {
			if _, err := a.Publish(ctx, a.key.Fingerprint); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Online(ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	alice := aliceLogin(true)
	w := &resuming{t: t, ctx: ctx, srv: srv, alice: alice, aliceIn: aliceIn, proxy: faultproxy.StartT(t, srv.Addr), dir: t.TempDir(), bobIn: make(inbox, 32)}
	bob, _ := w.first()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for _, tc := range []struct {
		body  string
		stall []faultproxy.Direction
	}{
		{"read before the restart", []faultproxy.Direction{faultproxy.Down}},
		{"never read before the restart", []faultproxy.Direction{faultproxy.Up, faultproxy.Down}},
	} {
		for _, d := range tc.stall {
			w.proxy.Stall(d)
		}
		up := w.proxy.Arrived(faultproxy.Up)
		sent := make(chan error, 1)
		go func() { _, err := bob.Send(ctx, alice.jid, tc.body); sent <- err }()
		for ready := false; !ready; {
			select {
			case m := <-aliceIn:
				if m.Body != tc.body || m.Err != nil || len(tc.stall) != 1 {
					t.Fatalf("alice: %q %v", m.Body, m.Err)
				}
				ready = true // the server had read it
			case <-tick.C:
				ready = len(tc.stall) == 2 && w.proxy.Arrived(faultproxy.Up) >= up+200
			case <-ctx.Done():
				t.Fatalf("%s: never got where it should", tc.body)
			}
		}
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		w.proxy.Cut()
		for _, d := range tc.stall {
			w.proxy.Resume(d)
		}
		var uo *ox.UnknownOutcomeError
		if err := <-sent; !errors.As(err, &uo) || uo.Report == nil {
			t.Fatalf("%s: the send on the lost connection: %v; want its outcome unknown, with its report", tc.body, err)
		}
		bob.Close(t)
		alice.Close(t)
		alice = aliceLogin(false)
		var neg ox.Negotiated
		bob, neg = w.login(false, ox.ResumptionOf(bob.Session))
		if neg.Resumed {
			t.Fatalf("%s: %+v, want a new session after the restart", tc.body, neg)
		}
		t.Logf("%s: the refused resumption said how far the server had read: %v (%d sent again)", tc.body, neg.Settled, neg.Resent)
		if srv.Is(testenv.Prosody) && !neg.Settled {
			t.Errorf("%s: Prosody's <failed/> after a restart carries h; want the lost session settled", tc.body)
		}
		err := bob.Confirm(ctx, uo)
		switch {
		case neg.Settled && err != nil:
			t.Errorf("%s: Confirm: %v; want it confirmed", tc.body, err)
		case !neg.Settled && err != uo:
			t.Errorf("%s: Confirm without the server's count: %v; want the outcome still unknown", tc.body, err)
		}
		if want := len(tc.stall) - 1; neg.Settled && neg.Resent != want {
			t.Errorf("%s: %d messages sent again, want %d", tc.body, neg.Resent, want)
		}
		if neg.Settled && len(tc.stall) == 2 {
			if m := aliceIn.next(t, tc.body); m.Body != tc.body || m.Err != nil {
				t.Fatalf("alice: %q %v, want the message bob sent again", m.Body, m.Err)
			}
		}
	}
	// Each message once: the next alice reads is the last one.
	if _, err := bob.Send(ctx, alice.jid, "the end"); err != nil {
		t.Fatal(err)
	}
	if m := aliceIn.next(t, "the end"); m.Body != "the end" {
		t.Errorf("alice: %q %v, want the end (each message once)", m.Body, m.Err)
	}
}
