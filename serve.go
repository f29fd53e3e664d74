package ox

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/xmlx"
	"codeberg.org/ox/ox/pep"
)

// The session side of a Client: one handler for the session's stanzas, to
// which features (packages muc and mam) add their own with Handle, and one
// worker that runs the receive pipeline and follow-up requests in the
// order stanzas arrived, off the session's goroutine (which must never
// wait for its own requests, nor for a slow consumer).

// queueSize is how many jobs wait in memory, and queueBytes how many bytes
// of stanzas they hold; past either, incoming messages go to the store
// (overflow) and are read from there in order, so that the session's
// goroutine never blocks and nothing is dropped. Memory is what the bound
// protects: a count alone (it was 256) sent most of a burst through the
// store, two writes and a read for each message, while a few MiB held it.
const (
	queueSize  = 4096
	queueBytes = 2 << 20
)

// jobTimeout bounds one job of the worker (a message's key fetch and
// checks, a key-change notification).
const jobTimeout = time.Minute

// worker runs jobs one at a time, in order; Close stops it.
type worker struct {
	once    sync.Once
	queue   chan func(context.Context)
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	spilled bool // messages are being kept in the store: enqueue there too, to keep the order
	closed  bool
	held    int // bytes of the stanzas queued in memory
}

// Handle adds stanza handlers (mux options) to the session's handler, for
// features that stand beside the message pipeline (rooms, the archive).
// Call it before Serve or Handler.
func (c *Client) Handle(opts ...mux.Option) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.extra = append(c.extra, opts...)
}

// OnAccepted registers f to be told of every message the pipeline accepted
// (checked, trusted, not a repeat), before OnMessage sees it; features
// read their payload elements there (the web of trust reads
// certifications). f runs on the worker.
func (c *Client) OnAccepted(f func(ctx context.Context, m *Message)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.accepted = append(c.accepted, f)
}

// Features are what ox announces in service discovery (XEP-0030) and
// entity capabilities (XEP-0115): interest in contacts' key changes
// (XEP-0373 §4.5, XEP-0060 §9.2 +notify) and the OX IM profile (XEP-0374 §2.1).
var Features = []string{pep.Notify(element.NodePublicKeys), element.NSIM}

// CapsNode names ox in XEP-0115 capabilities.
const CapsNode = "https://codeberg.org/ox/ox"

// EventFunc is told about every key change a PEP notification brought: what
// was fetched (rep), or why following it failed (err).
type EventFunc func(ctx context.Context, ev pep.Event, rep *FetchReport, err error)

// Handler returns the handler for the session's incoming stanzas: it
// answers disco#info with Features, follows key-change notifications
// (HandleEvent, reported to f if not nil), reads OX messages, live or as
// carbon copies (XEP-0280), through the receive pipeline, handing each to
// OnMessage in the order they arrived, and passes the stanzas the features
// registered with Handle to them.
func (c *Client) Handler(f EventFunc) xmpp.Handler {
	c.startWorker()
	openpgp := xml.Name{Space: element.NS, Local: "openpgp"}
	opts := []mux.Option{
		pep.DiscoHandler(Features),
		pep.HandleEvents(func(ctx context.Context, ev pep.Event) {
			c.enqueueJob(func(ctx context.Context) {
				rep, err := c.HandleEvent(ctx, ev)
				if f != nil && (rep != nil || err != nil) {
					f(ctx, ev, rep, err)
				}
				if rep != nil && len(rep.Imported) > 0 {
					ms, _ := c.RetryPending(ctx, rep.JID)
					for _, m := range ms {
						c.emit(m)
					}
				}
			})
		}),
	}
	for _, typ := range []stanza.MessageType{stanza.ChatMessage, stanza.NormalMessage} {
		opts = append(opts, mux.MessageFunc(typ, openpgp, c.onStanza(nil)))
		// An <openpgp/> somewhere else in the stanza (nested in another
		// element) reaches no handler by its name: this one finds it, so
		// that it is refused with its reason rather than ignored.
		opts = append(opts, mux.MessageFunc(typ, xml.Name{}, c.onOther))
	}
	for _, kind := range []string{"received", "sent"} {
		kind := kind
		name := xml.Name{Space: nsCarbons, Local: kind}
		for _, typ := range []stanza.MessageType{stanza.ChatMessage, stanza.NormalMessage} {
			opts = append(opts, mux.MessageFunc(typ, name, c.onStanza(func(msg stanza.Message, raw []byte) (Incoming, bool) {
				return unwrapCarbon(msg, raw, kind, c.JID())
			})))
		}
	}
	c.hmu.Lock()
	opts = append(opts, c.extra...)
	c.hmu.Unlock()
	return mux.New(stanza.NSClient, opts...)
}

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsMAM     = "urn:xmpp:mam:2"
)

// isWrapper: a message's child that carries another message, which has a
// handler of its own.
func isWrapper(n xml.Name) bool {
	return n.Space == nsCarbons && (n.Local == "received" || n.Local == "sent") ||
		n.Space == nsMAM && n.Local == "result"
}

// onStanza reads a message stanza off the session and queues it for the
// pipeline; unwrap (for carbons) turns the wrapper into the message.
func (c *Client) onStanza(unwrap func(stanza.Message, []byte) (Incoming, bool)) mux.MessageHandlerFunc {
	return func(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
		l := c.look(t)
		if l.err != nil || !c.claim(l) {
			return nil // broken (it must not end the session), or taken already
		}
		in := Incoming{Raw: l.raw, Origin: OriginLive}
		if unwrap != nil {
			var ok bool
			if in, ok = unwrap(msg, l.raw); !ok {
				return nil
			}
		}
		c.Enqueue(in)
		return nil
	}
}

// onOther looks at the children of a chat or normal message that no other
// handler takes: a stanza that carries an <openpgp/> that is not a direct
// child goes to the pipeline, to be refused with its reason.
func (c *Client) onOther(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	l := c.look(t)
	if l.err != nil || l.direct > 0 || l.nested == 0 || l.wrapper {
		// The <openpgp/> handler takes it, or it holds none, or it is a
		// carbon or an archive result: their handlers take those, with
		// their own rules (a copy that comes back with another child, as
		// ejabberd resends an unacknowledged result with a <delay/>
		// beside it, is still one).
		return nil
	}
	if c.claim(l) {
		c.Enqueue(Incoming{Raw: l.raw, Origin: OriginLive})
	}
	return nil
}

// stanzaLook is one incoming stanza as the message handlers see it: read
// once, however many of its children call a handler.
type stanzaLook struct {
	key            *xml.Attr // the stanza's start element's attributes: its identity
	raw            []byte
	direct, nested int  // <openpgp/> elements, as children and deeper
	wrapper        bool // a child is a carbon (XEP-0280) or an archive result (XEP-0313)
	err            error
	claimed        bool // a handler queued it: one verdict for each stanza
}

// look reads the stanza a message handler was called for. mellium's mux
// calls a handler once for each child element it matches, replaying the
// stanza's tokens each time, so a stanza with several children (an
// <openpgp/> beside <store/>, <body/> and the server's <stanza-id/>) comes
// several times, one call after another on the session's goroutine. Every
// call replays the same start element, whose attributes share one array:
// that identifies the stanza, and what was read of it the first time is
// used again (reading and scanning it anew for each child was a third of a
// listen's work).
func (c *Client) look(t xml.TokenReader) *stanzaLook {
	tok, err := t.Token()
	if err != nil {
		return &stanzaLook{err: err}
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return &stanzaLook{err: errors.New("ox: a stanza that does not start with its element")}
	}
	if l := c.cur; l != nil && len(start.Attr) > 0 && l.key == &start.Attr[0] {
		return l
	}
	l := &stanzaLook{}
	if len(start.Attr) > 0 {
		l.key = &start.Attr[0]
	}
	// The <openpgp/> elements, counted as the children go by (depth 1).
	count := &xmlx.Starts{R: t, F: func(depth int, s xml.StartElement) {
		if depth == 1 && isWrapper(s.Name) {
			l.wrapper = true
		}
		if s.Name.Space == element.NS && s.Name.Local == "openpgp" {
			if depth == 1 {
				l.direct++
			} else {
				l.nested++
			}
		}
	}}
	l.raw, l.err = pep.ReadStanza(xmlstream.MultiReader(xmlstream.Token(start), count))
	c.cur = l
	return l
}

// claim reports whether l is a stanza no handler queued yet. A stanza
// without attributes has no identity to keep (look reads it each time), nor
// would one if mux stopped replaying the same start element: the same
// bytes as the stanza claimed last are that stanza again.
func (c *Client) claim(l *stanzaLook) bool {
	if l.claimed || bytes.Equal(l.raw, c.lastStanza) {
		return false
	}
	l.claimed = true
	c.lastStanza = l.raw
	return true
}

func (c *Client) emit(m *Message) {
	if c.OnMessage != nil {
		c.OnMessage(m)
	}
}

// Enqueue hands an incoming message to the pipeline, after everything that
// came before it; the result goes to OnMessage. It never blocks: when the
// worker is behind by more than a queue's worth, messages wait in the
// store's inbox, in order, until it catches up.
func (c *Client) Enqueue(in Incoming) {
	c.startWorker()
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if !w.spilled && w.held+len(in.Raw) <= queueBytes {
		job := func(ctx context.Context) {
			w.mu.Lock()
			w.held -= len(in.Raw)
			w.mu.Unlock()
			c.processAndEmit(ctx, in)
		}
		select {
		case w.queue <- job:
			w.held += len(in.Raw)
			return
		default:
		}
	}
	w.spilled = true // the worker reads the inbox once the queue is empty
	if err := c.spill(context.Background(), in); err != nil {
		// The store refused (a full disk): read it late rather than lose
		// it, from a goroutine that waits for room in the queue.
		go func() {
			select {
			case w.queue <- func(ctx context.Context) { c.processAndEmit(ctx, in) }:
			case <-w.ctx.Done():
			}
		}()
	}
}

func (c *Client) processAndEmit(ctx context.Context, in Incoming) {
	m, err := c.Process(ctx, in)
	if err != nil {
		m = c.unread(ctx, in, err)
	}
	if m == nil {
		return
	}
	c.hmu.Lock()
	hooks := c.processed
	c.hmu.Unlock()
	for _, h := range hooks {
		h(ctx, m)
	}
	c.emit(m)
}

// OnProcessed registers f to be told of every message the session brought
// (live, offline, carbon, room) once the pipeline judged it, whatever its
// verdict, before OnMessage sees it; package mam moves the archive
// position with it. f runs on the worker.
func (c *Client) OnProcessed(f func(ctx context.Context, m *Message)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.processed = append(c.processed, f)
}

// BeforeOnline registers f to run in Online before the available
// presence goes out: what the session must note while the server still
// takes it for unavailable (package mam: where a first run's reading of
// the archive starts). f reports nothing; what it cannot do it leaves
// for later.
func (c *Client) BeforeOnline(f func(ctx context.Context)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.beforeOn = append(c.beforeOn, f)
}

// enqueueJob queues follow-up work (a key-change notification) for the
// worker; like Enqueue it never blocks the session's goroutine.
func (c *Client) enqueueJob(job func(context.Context)) {
	c.startWorker()
	w := &c.work
	select {
	case w.queue <- job:
	default:
		go func() {
			select {
			case w.queue <- job:
			case <-w.ctx.Done():
			}
		}()
	}
}

// Do runs f on the worker, after what is queued, and waits for it: features
// that read many messages at once (the archive) keep the pipeline's order
// this way. It must not be called from the worker (OnMessage, OnAccepted,
// an EventFunc).
func (c *Client) Do(ctx context.Context, f func(ctx context.Context)) error {
	c.startWorker()
	done := make(chan struct{})
	// A job the stopped worker never takes is given up; one it took is
	// waited for (f uses the caller's variables).
	var mu sync.Mutex
	started, abandoned := false, false
	job := func(jctx context.Context) {
		defer close(done)
		mu.Lock()
		started = !abandoned
		mu.Unlock()
		if !started {
			return
		}
		// The caller's deadline, bounded by the Client's life.
		jctx, cancel := context.WithCancel(jctx)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		f(jctx)
	}
	select {
	case c.work.queue <- job:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.work.ctx.Done():
		return ErrClosed
	}
	select {
	case <-done:
		return ctx.Err()
	case <-c.work.ctx.Done():
		mu.Lock()
		abandoned = !started
		mu.Unlock()
		if !abandoned {
			<-done
		}
		return ErrClosed
	}
}

// ErrClosed: the Client was closed.
var ErrClosed = errors.New("ox: the client is closed")

// startWorker runs the queue of work, one item at a time, so that messages
// are handed over in the order they arrived.
func (c *Client) startWorker() {
	w := &c.work
	w.once.Do(func() {
		w.queue = make(chan func(context.Context), queueSize)
		w.ctx, w.cancel = context.WithCancel(context.Background())
		w.done = make(chan struct{})
		// Messages a previous run kept in the inbox and did not read (it
		// ended first) are read before anything new.
		w.spilled = true
		go func() {
			defer close(w.done)
			c.drainInbox(w)
			for {
				select {
				case job := <-w.queue:
					if w.ctx.Err() != nil {
						return // stopped (StopReading, Close): the job stays unread
					}
					ctx, cancel := context.WithTimeout(w.ctx, jobTimeout)
					job(ctx)
					cancel()
					if len(w.queue) == 0 {
						c.drainInbox(w)
					}
				case <-w.ctx.Done():
					return
				}
			}
		}()
	})
}

// Close stops the goroutines the Client started (its worker); what is still
// queued is not read now (messages kept in the store are read next time).
// It does not close the session, the store or the backend, which the caller
// opened, unless the Client opened them itself (OpenLocal).
func (c *Client) Close() error {
	w := &c.work
	w.once.Do(func() {
		// Never started: nothing to stop, and nothing may start later.
		w.queue = make(chan func(context.Context), queueSize)
		w.ctx, w.cancel = context.WithCancel(context.Background())
		w.done = make(chan struct{})
		close(w.done)
	})
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	<-w.done
	var err error
	if c.owned != nil {
		err = c.owned()
		c.owned = nil
	}
	return err
}

// StopReading ends the reading of incoming messages at once: after the
// message being handed over (if any), no other is judged, recorded as
// handed over or handed over by this Client, and what arrives later is
// not queued. It is for a reader that has had enough (ox listen --count
// N stops it from OnMessage at the N-th): what it left is read by the
// next run, not lost. Messages kept in the store's inbox stay there; the
// others, never recorded, come again from the offline store or the
// archive (whose position moves only with messages handed over). It may
// be called from OnMessage; Close must still be called.
func (c *Client) StopReading() {
	c.startWorker()
	w := &c.work
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
}

// Serve processes incoming stanzas with Handler(f) until the session ends.
// Results of the Client's own requests (IQs) arrive only while it runs.
// While it runs, an idle session is checked with pings (PingInterval);
// when it returns, every request still waiting fails at once with
// ErrConnectionLost.
func (c *Client) Serve(f EventFunc) error {
	h := c.Handler(f)
	c.life.mu.Lock()
	if c.life.ctx == nil || c.life.ctx.Err() != nil {
		c.life.ctx, c.life.cancel = context.WithCancelCause(context.Background())
	}
	c.life.active = time.Now()
	sess := c.life.ctx
	c.life.mu.Unlock()
	pinger := make(chan struct{})
	go func() {
		defer close(pinger)
		c.keepAlive(sess)
	}()
	sm := sessionSM(c.Session)
	err := c.Session.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		c.touch()
		if start.Name.Space == nsSM {
			// XEP-0198 §4: an <r/> is answered with the count at once;
			// an <a/> lets go of the copies kept for resumption.
			switch {
			case sm == nil:
			case start.Name.Local == "r":
				return writeAck(t, sm)
			case start.Name.Local == "a":
				if h, err := strconv.ParseUint(attr(*start, "h"), 10, 32); err == nil {
					sm.acked(uint32(h))
				}
			}
			return nil
		}
		return h.HandleXMPP(t, start)
	}))
	err = streamCut(err)
	cause := ErrConnectionLost
	if err != nil {
		cause = fmt.Errorf("%w: %v", ErrConnectionLost, err)
	}
	c.endSession(cause)
	<-pinger
	return err
}

// Online sends available presence with ox's capabilities, so that the
// server sends contacts' key-change notifications (XEP-0163 §4). The
// BeforeOnline hooks run first.
func (c *Client) Online(ctx context.Context) error {
	if c.Session == nil {
		return ErrOffline
	}
	c.hmu.Lock()
	hooks := c.beforeOn
	c.hmu.Unlock()
	for _, h := range hooks {
		h(ctx)
	}
	rctx, cancel := c.request(ctx)
	defer cancel()
	if err := c.failure(rctx, c.Session.Send(rctx, pep.CapsPresence(Features, CapsNode))); err != nil {
		return err
	}
	c.noteExpiring(ctx)
	return nil
}

// noteExpiring tells OnKeyChange of the account's own keys that expire
// soon ("expiring", with the date and what to do), so that a listener
// learns it as the command line does.
func (c *Client) noteExpiring(ctx context.Context) {
	if c.OnKeyChange == nil {
		return
	}
	ks, err := c.ExpiringKeys(ctx, c.now())
	if err != nil {
		return
	}
	for _, k := range ks {
		c.OnKeyChange(KeyChange{JID: c.JID().Bare(), Fingerprint: k.Fingerprint.String(), What: "expiring",
			Reason: "your key expires on " + k.Expires.UTC().Format("2006-01-02") + ": renew it with 'ox key renew', then 'ox key publish'"})
	}
}

// ErrOffline: the Client has no session (OpenLocal without one), and the
// operation needs the server.
var ErrOffline = errors.New("ox: not connected to the server")
