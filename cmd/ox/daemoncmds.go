package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/files"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/rpc"
	"codeberg.org/ox/ox/trust"
)

// ox daemon and ox jsonrpc: one connection per account, served to scripts
// over JSON-RPC 2.0 (package rpc), as signal-cli does. The methods do what
// the commands do, through the same functions (sendTo, fetchKeys,
// setTrust...), and answer with the same error text; `receive`
// notifications are the lines of ox listen --json (package feed).

func init() {
	var daemonNet netFlags
	var printSocket bool
	var daemonFor time.Duration
	var daemonWindow time.Duration
	register(&command{
		name:    "daemon",
		summary: "stay connected and serve scripts over JSON-RPC 2.0 on a Unix socket; ox send, ox room send, ox listen and ox room listen then go through it",
		examples: `  ox daemon &                      # the socket: $XDG_RUNTIME_DIR/ox/ACCOUNT-HASH.sock (mode 0600)
  ox daemon --print-socket           # where the socket of this home and account is
  echo '{"jsonrpc":"2.0","id":1,"method":"send","params":{"to":"bob@example.org","text":"hi"}}' | socat - UNIX-CONNECT:$(ox daemon --print-socket)

The socket is $XDG_RUNTIME_DIR/ox/ACCOUNT-HASH.sock (without XDG_RUNTIME_DIR:
/tmp/ox-UID/), HASH being 8 hex digits of the account's data directory; its
directory has mode 0700, and a connection from another user is refused.
Methods: send {to, text | file}, roomSend {room, text | file, nick},
fetchKeys {jid}, listKeys {jid}, trustList {jid}, trustVerify and
trustReject {jid, fingerprint}, subscribe {after, count, room, nick,
history}, unsubscribe,
status {wait} (connected, last seq, lines not yet shown, the rooms it
is in: a room roomSend joined stays joined, across a new login and a
restart after a crash too, and its messages come to subscribers). subscribe
streams "receive" notifications, whose params are the lines of ox listen
--json; each has a seq: subscribe again with {"after": SEQ} to read on
after it (its result's last is where it stands); with {"room": JID}
only that room's lines come (and connection events), the daemon joining
the room if need be (ox room listen); a room that puts the account out
or that it cannot join again after a new login is a "room-left" event,
which ends room listen. ox listen and ox room listen through the daemon
outlive it: when the daemon ends they wait for one to run again and read
on after the last line they showed; started before any daemon ran, they
go on through one once it starts. Errors are JSON-RPC errors with a
stable code: -32001 offline, -32002 no usable key, -32003 not found,
-32004 refused by the server, -32005 timeout, -32006 another user,
-32007 a message's outcome is unknown (it may have been delivered: do
not simply send it again; data.id names it), -32000 other failures. A
send whose connection was cut before the server confirmed it (a
roomSend: before the room reflected it) waits for the next connection,
which tells.
`,
		flags: func(fs *flag.FlagSet) {
			daemonNet.register(fs)
			fs.BoolVar(&printSocket, "print-socket", false, "print the socket's path and exit")
			fs.DurationVar(&daemonFor, "timeout", 0, "stop after `DURATION` (0: never)")
			fs.DurationVar(&daemonWindow, "window", ox.DefaultWindow, "how far a message's time stamps may be off (`DURATION`)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("daemon takes no arguments")
			}
			path, err := e.socketPath()
			if err != nil {
				return err
			}
			if printSocket {
				fmt.Fprintln(e.stdout, path)
				return nil
			}
			if daemonWindow <= 0 {
				return usagef("--window must be a positive duration, such as 10m")
			}
			l, err := rpc.Listen(path)
			if errors.Is(err, rpc.ErrRunning) {
				return withHint(err, "one daemon serves an account; stop the other one first")
			}
			if err != nil {
				return err
			}
			defer os.Remove(path)
			defer l.Close()
			d, err := e.newDaemon(&daemonNet, daemonWindow)
			if err != nil {
				return err
			}
			defer d.close()
			ctx, stop := listenContext(e.ctx, daemonFor)
			defer stop()
			fmt.Fprintf(e.stderr, "ox: daemon for %s listening on %s\n", d.local.jid, path)
			served := make(chan error, 1)
			go func() { served <- d.srv.Serve(ctx, l, uint32(os.Getuid())) }()
			err = d.run(ctx)
			stop()
			<-served
			return err
		},
	})

	var rpcNet netFlags
	var rpcWindow, rpcFor time.Duration
	register(&command{
		name:    "jsonrpc",
		summary: "serve JSON-RPC 2.0 on standard input and output (the methods of ox daemon); through the daemon when one runs",
		examples: `  printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"listKeys"}' | ox jsonrpc
`,
		flags: func(fs *flag.FlagSet) {
			rpcNet.register(fs)
			fs.DurationVar(&rpcWindow, "window", ox.DefaultWindow, "how far a message's time stamps may be off (`DURATION`)")
			fs.DurationVar(&rpcFor, "timeout", 0, "stop after `DURATION` (0: never; without, at the end of the input)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("jsonrpc takes no arguments")
			}
			// While a daemon holds the account's connection, the lines
			// pass through to it.
			if c, err := e.daemonConn(); err != nil {
				return err
			} else if c != nil {
				defer c.Close()
				go func() { io.Copy(c, e.stdin); c.CloseWrite() }()
				_, err := io.Copy(e.stdout, c)
				return err
			}
			d, err := e.newDaemon(&rpcNet, rpcWindow)
			if err != nil {
				return err
			}
			defer d.close()
			ctx, stop := listenContext(e.ctx, rpcFor)
			defer stop()
			conn := rpc.NewConn(e.stdout, func() error { return nil })
			ran := make(chan error, 1)
			go func() { ran <- d.run(ctx) }()
			err = d.srv.ServeConn(ctx, conn, e.stdin)
			stop()
			if rerr := <-ran; err == nil {
				err = rerr
			}
			return err
		},
	})
}

// socketPath is the daemon's socket for the account and home in use.
func (e *env) socketPath() (string, error) {
	j, dir, err := e.whichAccount()
	if err != nil {
		return "", err
	}
	return rpc.SocketPath(e.getenv("XDG_RUNTIME_DIR"), j.String(), dir), nil
}

// daemonConn is a connection to the account's daemon; nil when none runs
// or OX_NO_DAEMON is set (the command then does the work itself).
func (e *env) daemonConn() (*net.UnixConn, error) {
	if e.getenv("OX_NO_DAEMON") != "" {
		return nil, nil
	}
	path, err := e.socketPath()
	if err != nil {
		return nil, nil // the command itself says what is wrong
	}
	c, err := rpc.DialRaw(path)
	if errors.Is(err, rpc.ErrNoDaemon) {
		return nil, nil
	}
	if err != nil {
		return nil, withHint(err, "remove the socket, or run ox without a daemon: OX_NO_DAEMON=1")
	}
	return c, nil
}

// daemonClient is daemonConn as a JSON-RPC client.
func (e *env) daemonClient() (*rpc.Client, error) {
	c, err := e.daemonConn()
	if c == nil || err != nil {
		return nil, err
	}
	return rpc.NewClient(c), nil
}

// fromDaemon is a daemon's JSON-RPC error as the command's own error: the
// same text and hint.
func fromDaemon(err error) error {
	var re *rpc.Error
	if !errors.As(err, &re) {
		if errors.Is(err, rpc.ErrClosed) {
			return withHint(err, "the daemon ended; start it again, or run ox without it (OX_NO_DAEMON=1)")
		}
		return err
	}
	e := errors.New(re.Message)
	if re.Code == rpc.CodeInvalidParams {
		e = &usageError{re.Message}
	}
	if d, ok := re.Data.(map[string]any); ok {
		if h, _ := d["hint"].(string); h != "" {
			return withHint(e, h)
		}
	}
	return e
}

// daemon holds an account's connection for scripts.
type daemon struct {
	e      *env
	n      *netFlags
	window time.Duration
	srv    *rpc.Server
	// local is the account's store for what needs no server (trust, keys,
	// the journal); the connection has a Client of its own.
	local *session

	mu   sync.Mutex
	o    *online       // nil while offline
	up   chan struct{} // closed while o is set
	subs map[*rpc.Conn]*subscription
	sent int // lines journalled since the last pruning
}

type subscription struct {
	// last: the subscription has had every line up to this seq (or was
	// not to have it: an unshown-only one, the lines shown before; a
	// room's, the lines of elsewhere).
	last  int64
	count int // lines feed.Counts still to hand out; -1: no limit
	// room, when set, is the one room whose lines the subscription wants
	// (ox room listen), with the connection's events.
	room jid.JID
}

func (e *env) newDaemon(n *netFlags, window time.Duration) (*daemon, error) {
	s, err := e.open(e.ctx, false)
	if err != nil {
		return nil, err
	}
	d := &daemon{e: e, n: n, window: window, srv: rpc.NewServer(), local: s, up: make(chan struct{}),
		subs: map[*rpc.Conn]*subscription{}}
	d.srv.ErrorOf = rpcError
	// A room that put the account out, or would not have it back after
	// a new login, is a line for the subscribers ("room-left"): a room
	// listen through the daemon would otherwise wait for its messages in
	// silence.
	e.roomLost = func(room jid.JID, reason string) {
		d.event(feed.RoomLeft(room.String(), reason, time.Now()))
	}
	d.handlers()
	d.prune(e.ctx)
	return d, nil
}

// prune forgets shown lines older than a week (a script resuming with
// "after" finds them) and beyond the newest 100,000; lines never shown
// stay.
func (d *daemon) prune(ctx context.Context) {
	if err := d.local.Store.PruneJournal(ctx, clock().Add(-7*24*time.Hour), 100_000); err != nil {
		fmt.Fprintf(d.e.stderr, "ox: warning: could not prune the daemon's journal: %v\n", err)
	}
}

func (d *daemon) close() { d.local.Close() }

// run keeps the account online until ctx ends (stayOnline, as listen).
func (d *daemon) run(ctx context.Context) error {
	show := func(m *ox.Message) { d.deliver(m) }
	setup := func(c *ox.Client) {
		c.Window = d.window
		c.OnMessage = show
		c.Journal = func(m *ox.Message) []byte {
			b, _ := json.Marshal(lineOf(m))
			return b
		}
		c.OnKeyChange = func(k ox.KeyChange) { d.event(feed.FromKeyChange(k, time.Now())) }
	}
	connected := func(o *online) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.o = o
		select {
		case <-d.up:
		default:
			close(d.up)
		}
		context.AfterFunc(o.ctx, func() { d.offline(o) })
	}
	err := d.e.stayOnline(ctx, d.n, setup, show, nil, connected, nil, func(what, reason string) {
		// In the daemon's log (the journal, under systemd) too.
		fmt.Fprintf(d.e.stderr, "ox: %s %s\n", what, reason)
		d.event(feed.Event(what, reason, time.Now()))
	})
	return err
}

// offline forgets the connection o once it has ended.
func (d *daemon) offline(o *online) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.o == o {
		d.o = nil
		d.up = make(chan struct{})
	}
}

// online waits for the connection, at most a while.
func (d *daemon) online(ctx context.Context) (*online, error) {
	for {
		d.mu.Lock()
		o, up := d.o, d.up
		d.mu.Unlock()
		if o != nil && o.ctx.Err() == nil {
			return o, nil
		}
		if o != nil {
			d.offline(o) // ended; its AfterFunc may not have run yet
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		select {
		case <-up:
			cancel()
		case <-wctx.Done():
			cancel()
			return nil, errOffline
		}
	}
}

// confirm settles the outcome of a message the server did not confirm
// (ox.Client.Confirm): on the connection it went on, if that still
// lives, else on the next, which the daemon makes by itself and which
// tells, when it takes the lost session over, whether the server had the
// message or was sent it again. It is the send's report when settled,
// the error when a new login cannot tell or none comes in time.
func (d *daemon) confirm(ctx context.Context, uo *ox.UnknownOutcomeError) (*ox.SendReport, error) {
	if !d.settle(ctx, func(ctx context.Context, o *online) (bool, bool) {
		var again *ox.UnknownOutcomeError
		err := o.client.Confirm(ctx, uo)
		if errors.As(err, &again) && again != uo {
			uo = again // this connection failed before it could tell
			return false, true
		}
		return err == nil, false
	}) {
		return nil, uo
	}
	return uo.Report, nil
}

// confirmRoom is confirm for a group message: the room's echo settles it,
// which a connection that takes the lost session over reads (the
// resumed session is in the room still, muc.Rooms.TakeOver).
func (d *daemon) confirmRoom(ctx context.Context, uo *muc.UnknownOutcomeError) (*muc.GroupReport, error) {
	// Settled or not, the room's echo is no longer awaited (without a
	// connection within confirmWait, Confirm never ran).
	defer uo.Forget()
	if !d.settle(ctx, func(ctx context.Context, o *online) (bool, bool) {
		err := o.rooms.Confirm(ctx, uo)
		return err == nil, err != nil && err != error(uo) && errors.Is(err, ox.ErrConnectionLost)
	}) {
		return nil, uo
	}
	return uo.Report, nil
}

// settle asks each connection in turn, for at most confirmWait, whether a
// message of unknown outcome is settled (try's first result); try's
// second says that this connection was lost before it could tell, and
// the next one may.
func (d *daemon) settle(ctx context.Context, try func(ctx context.Context, o *online) (settled, next bool)) bool {
	ctx, cancel := context.WithTimeout(ctx, confirmWait)
	defer cancel()
	for {
		o, err := d.online(ctx)
		if err != nil {
			return false
		}
		settled, next := try(ctx, o)
		if settled || !next {
			return settled
		}
		select {
		case <-o.ctx.Done():
		case <-ctx.Done():
			return false
		}
	}
}

// after is the connection that follows o, once o has ended; it waits
// at most confirmWait.
func (d *daemon) after(ctx context.Context, o *online) (*online, error) {
	ctx, cancel := context.WithTimeout(ctx, confirmWait)
	defer cancel()
	select {
	case <-o.ctx.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.online(ctx)
}

// again makes send on o and, when the connection was lost before the
// message was written whole (it never reached the server: ox.NotSentError,
// or a loss before the write), on the connections after it, at most 3
// more times, as one made while offline waits for a connection (online).
// A message that may have reached the server is not sent again: the
// caller settles it (confirm, confirmRoom). send and roomSend go through
// it.
func (d *daemon) again(ctx context.Context, o *online, send func(*online) error) error {
	err := send(o)
	for tries := 0; tries < 3 && errors.Is(err, ox.ErrConnectionLost) && !mayHaveArrived(err); tries++ {
		next, werr := d.after(ctx, o)
		if werr != nil {
			break
		}
		o = next
		err = send(o)
	}
	return err
}

// mayHaveArrived: err says that the message may have reached the server.
func mayHaveArrived(err error) bool {
	return errors.As(err, new(*ox.UnknownOutcomeError)) || errors.As(err, new(*muc.UnknownOutcomeError))
}

// confirmWait bounds how long the daemon's send waits for the next
// connection to settle a message whose confirmation a lost one took.
const confirmWait = time.Minute

var errOffline = withHint(errors.New("the daemon is not connected to the server now"), "it connects again by itself; try again in a moment")

// lineOf is the line of a delivered message, with the link of a file it
// shares.
func lineOf(m *ox.Message) feed.Line {
	l := feed.FromMessage(m)
	if link, ok := files.Find(m); ok {
		l.FileURL = link.URL
	}
	return l
}

// deliver journals a message (unless the pipeline did, with its delivered
// record) and hands it to the subscribers.
func (d *daemon) deliver(m *ox.Message) {
	l := lineOf(m)
	if m.Seq != 0 {
		l.Seq = m.Seq
		d.hand(l)
		return
	}
	d.event(l)
}

// event journals a line and hands it to the subscribers.
func (d *daemon) event(l feed.Line) {
	b, _ := json.Marshal(l)
	seq, err := d.local.Store.AppendJournal(context.Background(), clock(), b)
	if err != nil {
		fmt.Fprintf(d.e.stderr, "ox: warning: could not journal a line (%v); it goes to the subscribers only\n", err)
	}
	l.Seq = seq
	d.hand(l)
}

// hand writes l to every subscriber that has not had it, in the
// journal's order, and records it as shown once one has.
//
// Lines are journaled by more than one writer (the pipeline's worker with
// each message, the connection's events), each handing its line after its
// commit: the later line can come first. A subscriber gets a line's
// predecessors first, from the journal (handEarlier), and their own hand
// later finds them had. Before, that late hand was taken for a line the
// subscription's replay had, and dropped: the message that a resumed
// session read again, while "reconnected" was journaled, never reached
// the subscriber (seen once in the daemon soak test under -race).
func (d *daemon) hand(l feed.Line) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var shown []int64
	for c, s := range d.subs {
		if l.Seq != 0 && l.Seq <= s.last {
			continue // had: in the subscription's replay, or before its successor
		}
		earlier, ok := d.handEarlier(c, s, l.Seq)
		shown = append(shown, earlier...)
		if !ok {
			delete(d.subs, c) // gone
			continue
		}
		if s.count != 0 {
			sent, ok := s.write(c, l)
			if !ok {
				delete(d.subs, c)
				continue
			}
			if sent && l.Seq != 0 {
				shown = append(shown, l.Seq)
			}
		}
		if s.count == 0 {
			delete(d.subs, c)
		}
	}
	if len(shown) > 0 {
		if err := d.local.Store.MarkShown(context.Background(), shown...); err != nil {
			fmt.Fprintf(d.e.stderr, "ox: warning: %v\n", err)
		}
	}
	d.sent++
	if d.sent >= 10_000 {
		d.sent = 0
		d.prune(context.Background())
	}
}

// handEarlier writes to c the journal's lines between what s had and
// seq, committed and not handed yet (see hand); false: c is gone.
func (d *daemon) handEarlier(c *rpc.Conn, s *subscription, seq int64) (shown []int64, ok bool) {
	for seq != 0 && s.count != 0 && s.last < seq-1 {
		page, err := d.local.Store.Journal(context.Background(), s.last, false, int(min(seq-1-s.last, 500)))
		if err != nil || len(page) == 0 {
			break // none: the seqs between were never used
		}
		for _, jl := range page {
			if jl.Seq >= seq || s.count == 0 {
				return shown, true
			}
			var l feed.Line
			if json.Unmarshal(jl.Line, &l) == nil {
				l.Seq = jl.Seq
				sent, ok := s.write(c, l)
				if !ok {
					return shown, false
				}
				if sent {
					shown = append(shown, jl.Seq)
				}
			}
			s.last = max(s.last, jl.Seq)
		}
	}
	return shown, true
}

// write sends l to c if the subscription wants it (sent); !ok: the
// subscriber is gone.
func (s *subscription) write(c *rpc.Conn, l feed.Line) (sent, ok bool) {
	if s.wants(l) {
		if err := c.Notify("receive", l); err != nil {
			return false, false
		}
		sent = true
		if s.count > 0 && feed.Counts(l) {
			s.count--
		}
	}
	if l.Seq > s.last {
		s.last = l.Seq
	}
	return sent, true
}

// wants: l is for the subscription. A room's wants that room's lines
// and the connection's events (disconnected, reconnected), as ox room
// listen shows them on a connection of its own.
func (s *subscription) wants(l feed.Line) bool {
	if s.room.Equal(jid.JID{}) {
		return true
	}
	if l.Type == feed.TypeEvent && l.Room == "" {
		return l.Event == "disconnected" || l.Event == "reconnected"
	}
	r, err := jid.Parse(l.Room)
	return err == nil && r.Equal(s.room)
}

// subscribe hands c the journal's lines after `after` (after < 0: those
// never shown), then every new line, until count lines that
// feed.Counts counts (0: no limit) or until c goes. It returns the line
// the subscription stands at: c has had every line up to it that was
// meant for it, so a subscribe "after" it, to a daemon started again,
// reads on where this one stops.
func (d *daemon) subscribe(ctx context.Context, c *rpc.Conn, after int64, count int, room jid.JID) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &subscription{count: -1, room: room}
	if count > 0 {
		s.count = count
	}
	unshown := after < 0
	// through: the journal's end when the replay found nothing more. Every
	// line up to it was committed then (one writer at a time, seqs in
	// order) and replayed, or was shown before (unshown); what comes
	// later is handed to the subscription (hand), with what it missed
	// between (handEarlier), never the lines before it.
	var through int64
	for s.count != 0 {
		end, err := d.local.Store.LastJournal(ctx)
		if err != nil {
			return 0, err
		}
		page, err := d.local.Store.Journal(ctx, max(after, 0), unshown, 500)
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			through = end
			break
		}
		var shown []int64
		for _, jl := range page {
			after = jl.Seq
			var l feed.Line
			if json.Unmarshal(jl.Line, &l) != nil {
				continue
			}
			l.Seq = jl.Seq
			sent, ok := s.write(c, l)
			if !ok {
				return 0, rpc.ErrClosed
			}
			if sent {
				shown = append(shown, jl.Seq)
			}
			if s.count == 0 {
				break
			}
		}
		if err := d.local.Store.MarkShown(ctx, shown...); err != nil {
			return 0, err
		}
	}
	if s.count == 0 {
		return s.last, nil
	}
	// The subscription stands at through: what a subscribe "after" it
	// would hand out is what this one is to be handed.
	s.last = max(s.last, through)
	d.subs[c] = s
	go func() {
		<-c.Done()
		d.mu.Lock()
		delete(d.subs, c)
		d.mu.Unlock()
	}()
	return s.last, nil
}

func (d *daemon) unsubscribe(c *rpc.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subs, c)
}

// The methods' params and results.
type (
	sendParams struct {
		To   string `json:"to"`
		Text string `json:"text,omitempty"`
		File string `json:"file,omitempty"`
	}
	sendResult struct {
		ID          string   `json:"id"`
		Recipients  []string `json:"recipients"`
		Self        []string `json:"self"`
		Undecided   []string `json:"undecided,omitempty"`
		Unannounced []string `json:"unannounced,omitempty"`
	}
	roomSendParams struct {
		Room string `json:"room"`
		Text string `json:"text,omitempty"`
		File string `json:"file,omitempty"`
		Nick string `json:"nick,omitempty"`
	}
	roomSendResult struct {
		ID           string   `json:"id"`
		Participants int      `json:"participants"`
		Keys         int      `json:"keys"`
		Self         int      `json:"self"`
		Missing      []string `json:"missing,omitempty"`
	}
	jidParams struct {
		JID string `json:"jid,omitempty"`
	}
	trustParams struct {
		JID         string `json:"jid"`
		Fingerprint string `json:"fingerprint"`
	}
	statusParams struct {
		// Wait: answer once connected (at most 30 s).
		Wait bool `json:"wait,omitempty"`
	}
	subscribeParams struct {
		After *int64 `json:"after,omitempty"`
		Count int    `json:"count,omitempty"`
		// Room: one room's lines only (ox room listen), the daemon
		// joining it as Nick, asking for History messages of its history
		// (nil: the room's default) if it is not in it yet.
		Room    string `json:"room,omitempty"`
		Nick    string `json:"nick,omitempty"`
		History *int   `json:"history,omitempty"`
	}
	keyResult struct {
		Fingerprint string   `json:"fingerprint"`
		UserIDs     []string `json:"user_ids"`
		Own         bool     `json:"own"`
		Status      string   `json:"status"`
		Created     string   `json:"created"`
		Expires     string   `json:"expires,omitempty"`
	}
	trustResult struct {
		JID         string `json:"jid"`
		Fingerprint string `json:"fingerprint"`
		State       string `json:"state"`
		Since       string `json:"since"`
		Reason      string `json:"reason,omitempty"`
	}
)

func sendResultOf(rep *ox.SendReport) sendResult {
	return sendResult{ID: rep.ID, Recipients: fprs(rep.Recipients), Self: fprs(rep.Self), Undecided: fprs(rep.Undecided), Unannounced: fprs(rep.Unannounced)}
}

func roomSendResultOf(rep *muc.GroupReport) roomSendResult {
	res := roomSendResult{ID: rep.ID, Participants: len(rep.Recipients), Self: len(rep.Self)}
	for _, q := range rep.Recipients {
		res.Keys += len(q.Keys)
	}
	for _, q := range rep.Missing {
		res.Missing = append(res.Missing, q.Name()+" cannot read it: "+q.Reason)
	}
	return res
}

func fprs(fs []pgp.Fingerprint) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

// reqJID reads a JID parameter; empty is an error unless optional.
func reqJID(s string, optional bool) (jid.JID, error) {
	if s == "" && optional {
		return jid.JID{}, nil
	}
	j, err := parseAccount(s)
	if err != nil {
		return jid.JID{}, rpc.Errorf(rpc.CodeInvalidParams, "invalid params: %v", err)
	}
	return j, nil
}

// method registers f for name, with its params decoded strictly into P.
func method[P any](d *daemon, name string, f func(ctx context.Context, c *rpc.Conn, p P) (any, error)) {
	d.srv.Handle(name, func(ctx context.Context, c *rpc.Conn, raw json.RawMessage) (any, error) {
		var p P
		if err := rpc.Params(raw, &p); err != nil {
			return nil, err
		}
		return f(ctx, c, p)
	})
}

// onlineFor is the connection for a method that needs the server, with
// its JID param read.
func (d *daemon) onlineFor(ctx context.Context, who string) (*online, jid.JID, error) {
	j, err := reqJID(who, false)
	if err != nil {
		return nil, jid.JID{}, err
	}
	o, err := d.online(ctx)
	return o, j, err
}

func (d *daemon) handlers() {
	method(d, "send", func(ctx context.Context, _ *rpc.Conn, p sendParams) (any, error) {
		if (p.Text == "") == (p.File == "") {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: give "text" or "file"`)
		}
		o, to, err := d.onlineFor(ctx, p.To)
		if err != nil {
			return nil, err
		}
		var rep *ox.SendReport
		err = d.again(ctx, o, func(o *online) (err error) {
			rep, err = d.e.sendTo(o, to, p.Text, p.File)
			return err
		})
		var uo *ox.UnknownOutcomeError
		if errors.As(err, &uo) {
			rep, err = d.confirm(ctx, uo)
		}
		if err != nil {
			return nil, err
		}
		return sendResultOf(rep), nil
	})
	method(d, "roomSend", func(ctx context.Context, _ *rpc.Conn, p roomSendParams) (any, error) {
		room, err := parseRoom(p.Room)
		if err != nil {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, "invalid params: %v", err)
		}
		if (p.Text == "") == (p.File == "") {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: give "text" or "file"`)
		}
		o, err := d.online(ctx)
		if err != nil {
			return nil, err
		}
		var rep *muc.GroupReport
		err = d.again(ctx, o, func(o *online) error {
			r, err := d.room(o, room, p.Nick, 0)
			if err != nil {
				return err
			}
			rep, err = d.e.roomSendTo(o, r, p.Text, p.File)
			return err
		})
		var uo *muc.UnknownOutcomeError
		if errors.As(err, &uo) {
			rep, err = d.confirmRoom(ctx, uo)
		}
		if err != nil {
			return nil, err
		}
		return roomSendResultOf(rep), nil
	})
	method(d, "fetchKeys", func(ctx context.Context, _ *rpc.Conn, p jidParams) (any, error) {
		o, j, err := d.onlineFor(ctx, p.JID)
		if err != nil {
			return nil, err
		}
		rep, err := fetchKeys(o, j)
		if err != nil {
			return nil, err
		}
		res := map[string][]string{"fetched": {}, "unchanged": rep.Unchanged, "rejected": {}, "warnings": rep.Warnings}
		for _, k := range rep.Imported {
			res["fetched"] = append(res["fetched"], k.Fingerprint.String())
		}
		for _, q := range rep.Rejected {
			res["rejected"] = append(res["rejected"], q.Fingerprint+": "+q.Reason)
		}
		return res, nil
	})
	method(d, "listKeys", func(ctx context.Context, _ *rpc.Conn, p jidParams) (any, error) {
		j, err := reqJID(p.JID, true)
		if err != nil {
			return nil, err
		}
		ks, err := d.local.backend.List(ctx)
		if err != nil {
			return nil, err
		}
		now := d.local.now()
		out := []keyResult{}
		for _, k := range ks {
			if !j.Equal(jid.JID{}) && !k.HasUserID(j) {
				continue
			}
			r := keyResult{Fingerprint: k.Fingerprint.String(), UserIDs: k.UserIDs, Own: k.Secret, Status: status(&k, now), Created: k.Created.UTC().Format(time.RFC3339)}
			if !k.Expires.IsZero() {
				r.Expires = k.Expires.UTC().Format(time.RFC3339)
			}
			out = append(out, r)
		}
		return out, nil
	})
	method(d, "trustList", func(ctx context.Context, _ *rpc.Conn, p jidParams) (any, error) {
		j, err := reqJID(p.JID, true)
		if err != nil {
			return nil, err
		}
		recs, err := d.local.TrustRecords(ctx, j)
		if err != nil {
			return nil, err
		}
		out := []trustResult{}
		for _, r := range recs {
			out = append(out, trustResult{JID: r.JID, Fingerprint: r.Fingerprint, State: r.State, Since: r.Since.UTC().Format(time.RFC3339), Reason: r.Reason})
		}
		return out, nil
	})
	for name, state := range map[string]trust.State{"trustVerify": trust.Verified, "trustReject": trust.Rejected} {
		method(d, name, func(ctx context.Context, _ *rpc.Conn, p trustParams) (any, error) {
			j, err := reqJID(p.JID, false)
			if err != nil {
				return nil, err
			}
			f, err := pgp.ParseFingerprint(p.Fingerprint)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeInvalidParams, "invalid params: %v", err)
			}
			if err := setTrust(ctx, d.local, j, f, state); err != nil {
				return nil, err
			}
			return map[string]string{"jid": j.String(), "fingerprint": f.String(), "state": state.String()}, nil
		})
	}
	method(d, "subscribe", func(ctx context.Context, c *rpc.Conn, p subscribeParams) (any, error) {
		after := int64(-1)
		if p.After != nil {
			if *p.After < 0 {
				return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: "after" is a seq, 0 or more`)
			}
			after = *p.After
		}
		if p.Count < 0 {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: "count" is 0 (no limit) or more`)
		}
		var room jid.JID
		history := -1
		switch {
		case p.Room != "":
			var err error
			if room, err = parseRoom(p.Room); err != nil {
				return nil, rpc.Errorf(rpc.CodeInvalidParams, "invalid params: %v", err)
			}
			if p.History != nil {
				if history = *p.History; history < 0 {
					return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: "history" is 0 or more`)
				}
			}
		case p.Nick != "" || p.History != nil:
			return nil, rpc.Errorf(rpc.CodeInvalidParams, `invalid params: "nick" and "history" go with "room"`)
		}
		last, err := d.subscribe(ctx, c, after, p.Count, room)
		if err != nil {
			return nil, err
		}
		if p.Room != "" {
			// Subscribed first, so that the join's history comes to it;
			// the room stays joined, as one roomSend joined does.
			o, err := d.online(ctx)
			if err == nil {
				_, err = d.room(o, room, p.Nick, history)
			}
			if err != nil {
				d.unsubscribe(c)
				return nil, err
			}
		}
		return map[string]int64{"last": last}, nil
	})
	method(d, "unsubscribe", func(_ context.Context, c *rpc.Conn, _ struct{}) (any, error) {
		d.unsubscribe(c)
		return nil, nil
	})
	method(d, "status", func(ctx context.Context, _ *rpc.Conn, p statusParams) (any, error) {
		if p.Wait {
			if _, err := d.online(ctx); err != nil {
				return nil, err
			}
		}
		d.mu.Lock()
		o := d.o
		subs := len(d.subs)
		d.mu.Unlock()
		rooms := roomSeats(nil)
		if o != nil {
			rooms = roomSeats(o.rooms.Seats())
		}
		last, err := d.local.Store.LastJournal(ctx)
		if err != nil {
			return nil, err
		}
		unshown, err := d.local.Store.Unshown(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"account": d.local.jid.String(), "connected": o != nil, "subscribers": subs, "last": last, "unshown": unshown, "rooms": rooms}, nil
	})
}

// room is the joined room, joined now if need be. It stays joined while
// the daemon runs: a resumed session is in it still, and after a new login
// or the takeover of a killed daemon's session the connection joins it
// again (onlineOnce, rejoin). A join now asks for history messages of the
// room's history (-1: the room's default; roomSend asks for none).
func (d *daemon) room(o *online, room jid.JID, nick string, history int) (*muc.Room, error) {
	// One join at a time, and none while the connection joins its rooms
	// again: two joins of a room would both join it.
	o.joinMu.Lock()
	defer o.joinMu.Unlock()
	if r := o.rooms.In(room); r != nil {
		return r, nil
	}
	var opts []muc.JoinOption
	if history >= 0 {
		opts = append(opts, muc.MaxHistory(history))
	}
	r, err := o.rooms.Join(o.ctx, room, o.nick(nick), opts...)
	if err != nil {
		return nil, joinHint(err)
	}
	return r, nil
}

// rpcError is a command's error as a JSON-RPC error: the text ox prints,
// the hint in data, and the code of its kind.
func rpcError(err error) *rpc.Error {
	msg, hint := errorText(err)
	e := &rpc.Error{Code: rpc.CodeFailed, Message: msg}
	if hint != "" {
		e.Data = map[string]string{"hint": hint}
	}
	var (
		nk *ox.NoUsableKeyError
		u  *usageError
		to *ox.TimeoutError
		je *muc.JoinError
	)
	var uo *ox.UnknownOutcomeError
	var ru *muc.UnknownOutcomeError
	switch {
	case errors.As(err, &uo):
		e.Code = rpc.CodeUnknownOutcome
		e.Data = map[string]string{"hint": hint, "id": uo.ID}
	case errors.As(err, &ru):
		e.Code = rpc.CodeUnknownOutcome
		e.Data = map[string]string{"hint": hint, "id": ru.ID}
	case errors.As(err, &nk) || errors.Is(err, muc.ErrNoGroupRecipients):
		e.Code = rpc.CodeNoUsableKey
	case errors.Is(err, errOffline) || errors.Is(err, ox.ErrOffline):
		e.Code = rpc.CodeOffline
	case errors.As(err, &u):
		e.Code = rpc.CodeInvalidParams
	case errors.As(err, &to) || errors.Is(err, context.DeadlineExceeded):
		e.Code = rpc.CodeTimeout
	case errors.Is(err, pgp.ErrNotFound) || errors.Is(err, ox.ErrNoKeysPublished) || errors.Is(err, os.ErrNotExist):
		e.Code = rpc.CodeNotFound
	case errors.As(err, &je) || errors.Is(err, muc.ErrSemiAnonymous):
		e.Code = rpc.CodeRefused
	}
	return e
}

// listenThroughDaemon is ox listen (and ox room listen, sub naming the
// room) while a daemon runs for the account: it prints the lines the
// daemon hands out (subscribe). A daemon that ends (a restart, an
// upgrade, a crash, a SIGKILL) does not end listen: it says so
// ("disconnected"), waits for a daemon to listen on the socket again, and
// reads on after the last line it had (subscribe "after"), so nothing the
// daemon journalled meanwhile is lost and nothing is shown twice;
// "reconnected" follows. So too when the daemon is not online in time
// for a room's join. Only ctx (^C, --timeout), --count or an error of
// the daemon's ends it. Files are fetched here, with the connection's CA
// settings.
//
// lost, when set, says that listen went on through the daemon after it
// read alone (untilDaemon): "reconnected" follows once it is subscribed.
func (e *env) listenThroughDaemon(ctx context.Context, c *rpc.Client, pr *printer, dl *downloader, n *netFlags, sub subscribeParams, lost string) error {
	if isDone(pr.done) {
		c.Close()
		return nil
	}
	if dl.dir != "" {
		hc, err := e.httpsClient(n)
		if err != nil {
			c.Close()
			return err
		}
		dl.offline(ctx, hc)
	}
	for {
		err := followDaemon(ctx, c, pr, dl, &sub, &lost)
		c.Close()
		var re *rpc.Error
		switch {
		case errors.Is(err, rpc.ErrClosed):
			err = nil
			if lost == "" {
				lost = "the daemon ended; waiting for it to start again (^C to stop)"
				pr.event("disconnected", lost)
			}
		case errors.As(err, &re) && re.Code == rpc.CodeOffline:
			err = nil
			if lost == "" {
				lost = re.Message + "; subscribing again"
				pr.event("disconnected", lost)
			}
		}
		if err != nil || ctx.Err() != nil || isDone(pr.done) {
			return err
		}
		if c, err = e.awaitDaemon(ctx); c == nil {
			return err
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// followDaemon subscribes c (sub, its After the line to read on after, or
// nil: the lines no one was shown yet) and prints what it hands out until
// ctx ends or pr is full (nil), or the daemon goes (rpc.ErrClosed; a
// *rpc.Error CodeOffline: it was not online for a room's join). It keeps
// sub.After at the line through which pr has had every line meant for
// it. *lost, when set, is why an earlier daemon was lost: once
// subscribed, "reconnected" says that it is over.
func followDaemon(ctx context.Context, c *rpc.Client, pr *printer, dl *downloader, sub *subscribeParams, lost *string) error {
	sub.Count = pr.left()
	var res struct{ Last int64 }
	if err := c.Call(ctx, "subscribe", sub, &res); err != nil {
		var re *rpc.Error
		switch {
		case ctx.Err() != nil:
			return nil // ^C or --timeout, as while it reads
		case errors.Is(err, rpc.ErrClosed) || (errors.As(err, &re) && re.Code == rpc.CodeOffline):
			return err
		}
		return fromDaemon(err)
	}
	stand := func(seq int64) {
		if sub.After == nil || seq > *sub.After {
			sub.After = &seq
		}
	}
	if *lost != "" {
		how := "reading the lines no one was shown"
		if sub.After != nil {
			how = fmt.Sprintf("reading on after line %d", *sub.After)
		}
		was := "the daemon runs again; "
		if *lost == handedOver {
			was = "through the daemon; "
		}
		pr.event("reconnected", was+how)
		*lost = ""
	}
	stand(res.Last)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pr.done:
			return nil
		case nt, ok := <-c.Notifications():
			if !ok {
				return rpc.ErrClosed
			}
			if nt.Method != "receive" {
				continue
			}
			var l feed.Line
			if err := json.Unmarshal(nt.Params, &l); err != nil {
				continue
			}
			if l.FileURL != "" && dl.dir != "" {
				dl.attach(&ox.Message{Body: l.Body, Payload: []byte(l.Payload)}, &l)
			}
			pr.line(l)
			stand(l.Seq)
			if l.Event == "room-left" && sub.Room != "" {
				// Only its room's lines come (subscription.wants).
				return roomLeftError(l.Reason)
			}
		}
	}
}

// awaitDaemon waits for a daemon to listen for the account again,
// trying its socket after a backoff (0.1 s doubling to 2 s): its client,
// or nil once ctx ends (with a nil error) or when the socket cannot be
// used (another user's).
func (e *env) awaitDaemon(ctx context.Context) (*rpc.Client, error) {
	for attempt := 0; ; attempt++ {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(ox.Backoff(attempt, 100*time.Millisecond, 2*time.Second, 0)):
		}
		c, err := e.daemonClient()
		if c != nil || err != nil {
			return c, err
		}
	}
}

// roomLeftError is how room listen ends when its room is lost
// ("room-left"): reason says why.
func roomLeftError(reason string) error {
	return withHint(errors.New(reason), "run ox room listen again: it joins the room anew")
}

// daemonWatch is how often a command that works alone (listen, room
// listen) looks whether a daemon started for the account.
const daemonWatch = time.Second

// handedOver is why listen left its own connection (untilDaemon).
const handedOver = "a daemon started for the account; listening through it"

// untilDaemon runs alone (the command with a connection of its own)
// until it returns or a daemon starts for the account. Then alone's
// context ends, and once it has returned, the daemon's client is
// returned, to go on through the daemon: two connections of the account
// would both read its messages, and those one read first the other takes
// for shown (the store is shared), so the daemon's subscribers would
// never get what the command read. What the daemon read before is still
// unshown in its journal, and the command reads it there. Without a
// daemon (or with OX_NO_DAEMON set), it is alone's result, with a nil
// client.
func (e *env) untilDaemon(ctx context.Context, alone func(context.Context) error) (*rpc.Client, error) {
	path, err := e.socketPath()
	if e.getenv("OX_NO_DAEMON") != "" || err != nil {
		return nil, alone(ctx)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- alone(actx) }()
	tick := time.NewTicker(daemonWatch)
	defer tick.Stop()
	for {
		select {
		case err := <-ended:
			return nil, err
		case <-tick.C:
		}
		// No daemon, or a socket that cannot be used (another user's):
		// alone goes on.
		c, err := rpc.Dial(path)
		if err != nil {
			continue
		}
		cancel()
		// What alone says once its context is ended for the handover is
		// of no matter: it has shown what it read.
		<-ended
		if ctx.Err() != nil {
			c.Close()
			return nil, nil
		}
		return c, nil
	}
}

// absPath is path made absolute, for a daemon whose working directory
// is not the command's.
func absPath(path string) string {
	if path == "" {
		return ""
	}
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
