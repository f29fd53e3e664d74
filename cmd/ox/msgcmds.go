package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mellium.im/xmpp/carbons"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/mam"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/trust"
)

func init() {
	var sendNet netFlags
	var sendFile string
	register(&command{
		name:    "send",
		args:    "JID [TEXT] | JID --file PATH",
		summary: "send an OX-encrypted chat message (TEXT, or standard input); exit 0 once the server has it",
		examples: `  ox send bob@example.org 'hello bob'
  echo alert | ox send bob@example.org
  ox send bob@example.org --file report.pdf   # encrypted, uploaded (XEP-0363), its aesgcm:// link sent
`,
		flags: func(fs *flag.FlagSet) {
			sendNet.register(fs)
			fs.StringVar(&sendFile, "file", "", "share the file at `PATH`: AES-256-GCM encrypted, uploaded to the server's HTTP File Upload service, its link sent OX-encrypted")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() < 1 || fs.NArg() > 2 || (sendFile != "" && fs.NArg() != 1) {
				return usagef("send takes a JID and, optionally, the text (or --file PATH)")
			}
			to, err := parseAccount(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			var text string
			if sendFile == "" {
				if text, err = e.messageText(fs); err != nil {
					return err
				}
			}
			// While a daemon runs for the account, it sends (one
			// connection, no login).
			if dc, err := e.daemonClient(); err != nil {
				return err
			} else if dc != nil {
				defer dc.Close()
				var res sendResult
				if err := dc.Call(e.ctx, "send", sendParams{To: to.String(), Text: text, File: absPath(sendFile)}, &res); err != nil {
					return fromDaemon(err)
				}
				printSent(e.stderr, to, res)
				return nil
			}
			o, err := e.connect(e.ctx, &sendNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			// A one-shot command hears no key-change notifications: read
			// the recipient's metadata node for every message.
			o.client.MaxKeyAge = -1
			rep, err := e.sendTo(o, to, text, sendFile)
			if err != nil {
				return err
			}
			printSent(e.stderr, to, sendResultOf(rep))
			return nil
		},
	})

	var listenNet netFlags
	var asJSON bool
	var count int
	var wait time.Duration
	var downloadDir, maxDownload string
	var listenWindow time.Duration
	register(&command{
		name:    "listen",
		summary: "print incoming OX messages as they arrive (and those that arrived while away); rejected ones with the reason",
		examples: `  ox listen
  ox listen --json --count 1 --timeout 30s
`,
		flags: func(fs *flag.FlagSet) {
			listenNet.register(fs)
			fs.BoolVar(&asJSON, "json", false, "one JSON object per line")
			fs.IntVar(&count, "count", 0, "stop after `N` messages from others, not counting copies of your own or pending ones (0: never)")
			fs.DurationVar(&wait, "timeout", 0, "stop after `DURATION` (0: never)")
			fs.StringVar(&downloadDir, "download", "", "fetch the files that verified messages share into `DIR` (checked, then kept under a safe new name)")
			fs.StringVar(&maxDownload, "max-download", "100M", "keep no file larger than `SIZE` (512K, 100M, 2G)")
			fs.DurationVar(&listenWindow, "window", ox.DefaultWindow, "how far a message's time stamps may be off (`DURATION`)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("listen takes no arguments")
			}
			max, err := parseSize(maxDownload)
			if err != nil {
				return usagef("--max-download: %v", err)
			}
			if downloadDir != "" {
				if st, err := os.Stat(downloadDir); err != nil || !st.IsDir() {
					return usagef("--download %s: not a directory", downloadDir)
				}
			}
			if listenWindow <= 0 {
				return usagef("--window must be a positive duration, such as 10m")
			}
			dl := newDownloader(e, downloadDir, max, asJSON)
			ctx, stop := listenContext(e.ctx, wait)
			defer stop()
			pr := newPrinter(count, asJSON, e.stdout)
			// While a daemon runs for the account, it holds the one
			// connection: listen reads what it hands out (daemoncmds.go).
			if dc, err := e.daemonClient(); err != nil {
				return err
			} else if dc != nil {
				windowSet := false
				fs.Visit(func(f *flag.Flag) { windowSet = windowSet || f.Name == "window" })
				if windowSet {
					// The daemon judged the messages already, with its own
					// window.
					fmt.Fprintln(e.stderr, "ox: warning: --window is ignored while a daemon runs for the account: it checks the messages with its own (ox daemon --window)")
				}
				return e.listenThroughDaemon(ctx, dc, pr, dl, &listenNet, subscribeParams{}, "")
			}
			show := func(m *ox.Message) { pr.message(m, dl) }
			setup := func(c *ox.Client) {
				c.Window = listenWindow
				c.OnMessage = show
				pr.readBy(c)
				c.OnKeyChange = func(k ox.KeyChange) { pr.line(feed.FromKeyChange(k, time.Now())) }
			}
			// A room it is no longer in, though it did not leave it.
			e.roomLost = func(room jid.JID, reason string) {
				pr.line(feed.RoomLeft(room.String(), reason, time.Now()))
			}
			// Alone until a daemon starts for the account; then through it.
			release := e.listenAlone()
			defer release()
			dc, err := e.untilDaemon(ctx, func(ctx context.Context) error {
				return e.stayOnline(ctx, &listenNet, setup, show, pr.done, dl.connected, nil, pr.event)
			})
			release()
			if dc == nil {
				return err
			}
			pr.event("disconnected", handedOver)
			return e.listenThroughDaemon(ctx, dc, pr, dl, &listenNet, subscribeParams{}, handedOver)
		},
	})
}

// listenAlone marks this process, until release, as one that reads the
// account's messages with a connection of its own (listen or room listen
// while no daemon runs), and warns when another one does too: both
// connections read every message, and the store they share shows each
// once, by whichever read it first, so each listen shows only some. A
// daemon is the way to have several: each listen goes through it and
// shows every line.
func (e *env) listenAlone() (release func()) {
	_, dir, err := e.whichAccount()
	if err != nil {
		return func() {}
	}
	f, err := os.OpenFile(filepath.Join(dir, "listen.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}
	}
	if first, _ := shareLock(f); !first {
		fmt.Fprintln(e.stderr, "ox: warning: another ox listen or room listen reads this account's messages with a connection of its own, so each message is shown by only one of them; run 'ox daemon', and every listen goes through it and shows every message")
	}
	return sync.OnceFunc(func() { f.Close() })
}

// stayOnline keeps the account online until ctx ends or done is closed:
// it logs in, tells up, catches up (offline store, archive, pending
// messages) and serves until the connection is lost; a lost connection is
// an event ("disconnected"), and ox connects again after a backoff
// (ox.Backoff): it takes the lost session over where the server kept it
// (stream resumption, XEP-0198 §5), else it logs in again and catches up,
// so nothing is lost and nothing is shown twice (the pipeline remembers
// what it delivered); "reconnected" follows.
// The first login's failure ends it, as does one that trying again cannot
// mend (a refused password or certificate: ox.Transient). listen, room
// listen and the daemon all stay online through it. enter, when set, is
// what each new login does once online (room listen joins its room; a
// resumed session is still in it): its error ends it as a login's does.
func (e *env) stayOnline(ctx context.Context, n *netFlags, setup func(*ox.Client), show func(*ox.Message), done <-chan struct{}, up func(*online), enter func(*online) error, event func(what, reason string)) error {
	// A session that a run before this one left (it died without closing
	// it) is taken over first, and the rooms it was in, which the keeper
	// kept with it, are joined again (rejoin). Not by a command that
	// enters a room of its own: it joins it after each new login.
	var keep *resumeKeeper
	if enter == nil {
		keep = e.keepResumption()
	}
	defer keep.close()
	resume := staying{resumable: true, save: keep.saver(), saveSeats: keep.seatSaver()}
	warn := func(w string) { fmt.Fprintf(e.stderr, "ox: warning: %s\n", w) }
	if resume.resume = keep.load(warn); resume.resume != nil {
		resume.seats = keep.loadSeats(warn)
		if at := keep.savedAt(); !at.IsZero() {
			resume.since = at.Add(-rejoinMargin)
		}
	}
	for attempt, failed, connected := 0, 0, false; ; {
		lost, next, err := e.onlineOnce(ctx, n, setup, show, done, resume, func(o *online) {
			switch {
			case connected && o.resumed:
				event("reconnected", "the session was resumed (XEP-0198)")
			case connected:
				event("reconnected", "")
			case o.resumed:
				// A run before this one died with the session open.
				event("reconnected", "the session an earlier run left was resumed (XEP-0198)")
			}
			up(o)
		}, enter)
		if err == nil && lost == nil {
			return nil
		}
		switch {
		case err == nil:
			// The connection was up: what it left replaces what it took
			// over.
			resume.resume, resume.rooms, resume.seats, resume.since = next.resume, next.rooms, next.seats, next.since
			failed = 0
		case !ox.Unreached(err):
			// A login that failed leaves the lost session to resume, for
			// three attempts: a server that keeps failing the resumption
			// itself gets ordinary logins. One that never reached the
			// server (it is down, restarting) does not count: a server
			// back from a restart says how far it had read the lost
			// session (<failed h/>), which settles what was in flight.
			if failed++; failed >= 3 {
				// A new login, which joins the rooms again.
				resume.resume, resume.rooms = nil, nil
			}
		}
		if connected && ctx.Err() != nil {
			// Ended (^C, --timeout, a daemon's start) while it logged in
			// again or came online: not a loss to tell.
			return nil
		}
		if err != nil && (!connected || !ox.Transient(err)) {
			return err
		}
		connected = true
		why := lost
		if why == nil {
			why = err
		}
		wait := ox.Backoff(attempt, 500*time.Millisecond, 30*time.Second, rand.Float64())
		event("disconnected", fmt.Sprintf("%v; connecting again in %v", why, wait.Round(time.Millisecond)))
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return nil
		case <-time.After(wait):
		}
		attempt++
		if lost != nil {
			attempt = 0 // the connection was up: start the backoff again
		}
	}
}

// onlineOnce is one connection: log in (taking over the lost session that
// st.resume is, if the server still keeps it), tell up, come online and
// enter (a new login only), catch up, serve until done, ctx's end or the
// connection's loss (lost, with what it leaves to resume).
func (e *env) onlineOnce(ctx context.Context, n *netFlags, setup func(*ox.Client), show func(*ox.Message), done <-chan struct{}, st staying, up func(*online), enter func(*online) error) (lost error, next staying, err error) {
	o, err := e.connectStaying(ctx, n, false, setup, st)
	if err != nil {
		return nil, next, err
	}
	defer o.Close()
	// Without a session to resume, the rooms to join again stay those
	// this one was to join.
	next = st
	next.resume, next.rooms = nil, nil
	// The connection's loss ends what is under way on it (the catch-up's
	// requests would otherwise wait for answers that cannot come).
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lostc := make(chan error, 1)
	go func() {
		err := <-o.served
		if err == nil {
			err = ox.ErrServerClosed
		}
		lostc <- err
		cancel()
	}()
	// lostWith is the connection's loss (lostc's) and what it leaves to
	// resume: the session has stopped reading, Serve returned.
	var unjoined []muc.Seat // rooms to join again that the loss kept out
	lostWith := func(err error) (error, staying, error) {
		next.resume, next.rooms = ox.ResumptionOf(o.xmpp), o.rooms
		// The rooms to join again after a new login, with what they
		// said since a while before the loss: the connection may have
		// been dead that long before a ping told (ox.DefaultPingInterval
		// and DefaultPingTimeout); the pipeline drops what it showed.
		// Those this connection was to join again and did not, with
		// what was said since the earlier loss.
		since := time.Now().Add(-rejoinMargin)
		if len(unjoined) > 0 && !st.since.IsZero() && st.since.Before(since) {
			since = st.since
		}
		next.seats, next.since = muc.Union(o.rooms.Seats(), unjoined), since
		return err, next, nil
	}
	// The rooms this connection is to be in and is not, joined again
	// before anything is sent on it: those of a session taken over that
	// this process does not know (muc.Rooms.Reenter: the room has what
	// came meanwhile for the session, so no history), and after a new
	// login those the lost connection was in (with the history the room
	// kept). Not for a command that enters a room of its own (enter).
	var again []muc.Seat
	var history muc.JoinOption
	switch {
	case o.resumed:
		again, history = o.reentered, muc.MaxHistory(0)
	case enter == nil:
		again, history = st.seats, muc.HistorySince(st.since)
		if st.since.IsZero() {
			history = muc.MaxHistory(0)
		}
	}
	unjoined = again
	o.joinMu.Lock()
	joined := sync.OnceFunc(o.joinMu.Unlock)
	defer joined()
	if o.resumed {
		unjoined = e.rejoin(cctx, o, again, history)
		joined()
	}
	up(o)
	// A resumed session has its carbons and its presence still.
	if !o.resumed {
		if err := carbons.Enable(cctx, o.xmpp); err != nil && cctx.Err() == nil {
			fmt.Fprintf(e.stderr, "ox: warning: the server refused message carbons, so messages to and from your other devices will not show: %v\n", err)
		}
		if err := o.client.Online(cctx); err != nil {
			if cctx.Err() != nil && ctx.Err() == nil {
				return lostWith(<-lostc) // cancelled by the loss, which says why
			}
			return err, next, nil
		}
		if enter != nil {
			if err := enter(o); err != nil {
				if cctx.Err() != nil && ctx.Err() == nil {
					return lostWith(<-lostc)
				}
				return nil, next, err
			}
		}
		unjoined = e.rejoin(cctx, o, again, history)
		joined()
	}
	// What arrived while this device was away and went to another
	// device (so not to the offline store): from the archive; and once
	// more a moment later, for what was on its way to the session before
	// this one and reached the archive after the first read (mam.Options
	// Hold). A catch-up that fails on a connection that stays up (the
	// server left a query unanswered) is made again, later and later,
	// until one succeeds: until then live messages do not move the
	// archive's position, and what the failed one missed would be read by
	// no one.
	catchUp := func(hold bool) bool {
		for {
			_, err := o.archive.CatchUpWith(cctx, mam.Options{Hold: hold})
			if errors.Is(err, mam.ErrMoreInArchive) {
				continue
			}
			// A lost connection is told as an event ("disconnected"), and
			// the next connection catches up.
			if err != nil && cctx.Err() == nil && !errors.Is(err, ox.ErrConnectionLost) {
				fmt.Fprintf(e.stderr, "ox: warning: could not read the message archive (XEP-0313), so messages another device took while this one was away may be missing; trying again: %v\n", err)
			}
			return err == nil
		}
	}
	held := catchUp(true)
	settle := time.NewTimer(settleDelay)
	defer settle.Stop()
	failed := 0
	// Messages kept because their sender's key was missing: the
	// key may be known by now.
	if ms, err := o.client.RetryPending(cctx, jid.JID{}); err == nil {
		for _, m := range ms {
			show(m)
		}
	}
	// And from time to time while any are kept, their senders' keys
	// fetched again (ox.Client.RetryKept): a fetch that failed when the
	// message came is made again, later and later, and a key published
	// since without a notification is found.
	keptWait := keptRetry
	kept := time.NewTimer(keptWait)
	defer kept.Stop()
	for {
		select {
		case <-kept.C:
			ms, n, err := o.client.RetryKept(cctx)
			for _, m := range ms {
				show(m)
			}
			if err == nil && n > 0 {
				keptWait = min(2*keptWait, keptRetryMax)
			} else {
				keptWait = keptRetry
			}
			kept.Reset(keptWait)
			continue
		case <-settle.C:
			if catchUp(!held) {
				if !held {
					held = true // the first succeeded only now: read once more after it
					settle.Reset(settleDelay)
				}
				continue
			}
			failed++
			settle.Reset(ox.Backoff(failed, settleDelay, time.Minute, rand.Float64()))
			continue
		case <-done:
		case <-ctx.Done():
		case err := <-lostc:
			return lostWith(err)
		}
		return nil, next, nil
	}
}

// rejoin joins the rooms seats names again, together, as their nicks:
// only rooms that still exist (muc.Existing). In one that the session
// taken over is in (muc.Rooms.Reenter), the room sends its occupants
// anew and the group messages held meanwhile are attributed. A room that
// refuses is a warning, and its held messages are shown refused. It
// returns the rooms that ctx's end (the connection's loss) kept it from
// joining.
func (e *env) rejoin(ctx context.Context, o *online, seats []muc.Seat, history muc.JoinOption) (unjoined []muc.Seat) {
	errs := make([]error, len(seats))
	var wg sync.WaitGroup
	for i, st := range seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = o.rooms.Join(ctx, st.Room, st.Nick, history, muc.Existing())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case err == nil:
		case ctx.Err() != nil:
			unjoined = append(unjoined, seats[i])
		default:
			reason := fmt.Sprintf("could not join %s again, so its messages are not read: %v", seats[i].Room, joinHint(err))
			fmt.Fprintf(e.stderr, "ox: warning: %s\n", reason)
			if e.roomLost != nil {
				e.roomLost(seats[i].Room, reason)
			}
		}
	}
	return unjoined
}

// rejoinMargin: after a new login, the rooms joined again replay what was
// said since this long before the connection's loss was noticed.
const rejoinMargin = 3 * time.Minute

// settleDelay is how long after coming online the archive is read again
// (see onlineOnce).
const settleDelay = 2 * time.Second

// keptRetry is how often kept messages are tried again while online, and
// keptRetryMax how far the wait grows while some stay kept (see
// onlineOnce).
const (
	keptRetry    = time.Minute
	keptRetryMax = 16 * time.Minute
)

// sendTo sends text, or the file at path, to `to`: ox send and the
// daemon's send.
func (e *env) sendTo(o *online, to jid.JID, text, path string) (*ox.SendReport, error) {
	var rep *ox.SendReport
	var err error
	if path != "" {
		payload, uerr := e.uploadFile(o, path) // filecmds.go
		if uerr != nil {
			return nil, uerr
		}
		rep, err = o.client.SendPayload(o.ctx, to, payload)
	} else {
		rep, err = o.client.Send(o.ctx, to, text)
	}
	var nk *ox.NoUsableKeyError
	if errors.As(err, &nk) && len(nk.Undecided)+len(nk.NeverValidInGnuPG) > 0 {
		return nil, withHint(err, "nothing was sent; "+usableKeyHint(nk))
	}
	if errors.As(err, &nk) {
		return nil, withHint(err, "nothing was sent; ask "+to.String()+" to publish a current OX key, or import one with 'ox cert import FILE'")
	}
	if err != nil {
		return nil, pepHint(err)
	}
	return rep, nil
}

// printSent says what ox send did.
func printSent(w io.Writer, to jid.JID, res sendResult) {
	fmt.Fprintf(w, "ox: sent to %s, encrypted to %d of their key(s) and %d of yours\n", to, len(res.Recipients), len(res.Self))
	for _, f := range res.Undecided {
		fmt.Fprintf(w, "ox: warning: %s's key %s is undecided, so that device cannot read it; compare fingerprints and run 'ox trust verify %s %s'\n", to, f, to, f)
	}
	for _, f := range res.Unannounced {
		fmt.Fprintf(w, "ox: warning: key %s with the user ID xmpp:%s is stored but %s does not announce it, so it was not encrypted to\n", f, to, to)
	}
}

// writeLine prints one received line: as JSON, or for a person.
func writeLine(w io.Writer, l feed.Line, asJSON bool) {
	if asJSON {
		feed.Write(w, l)
		return
	}
	writeHuman(w, l)
}

// writeHuman prints a line for a person: a message, a rejection, a
// pending message, a certification offer, a key change or a connection
// event.
func writeHuman(w io.Writer, l feed.Line) {
	if l.Type == feed.TypeEvent {
		writeHumanEvent(w, l)
		return
	}
	from := bare(l.From)
	if l.Sent {
		from = "you -> " + bare(l.To)
	}
	switch l.Type {
	case feed.TypePending:
		fmt.Fprintf(w, "%s %s: [pending] %s\n", l.Delivered, from, l.Reason)
	case feed.TypeRejected:
		fmt.Fprintf(w, "%s %s: [rejected] %s\n", l.Delivered, from, l.Reason)
	default:
		marker := ""
		if l.Trust == trust.Undecided.String() {
			marker = "[undecided key " + l.Signer + "] "
		}
		fmt.Fprintf(w, "%s %s: %s%s\n", l.Time, from, marker, l.Body)
		for _, x := range l.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", x)
		}
		switch {
		case l.FilePath != "":
			fmt.Fprintf(w, "  file: saved as %s (%s)\n", l.FilePath, humanSize(l.FileSize))
		case l.FileError != "":
			fmt.Fprintf(w, "  file: not kept: %s\n", l.FileError)
		case l.FileURL != "":
			fmt.Fprintf(w, "  file: %s (encrypted; fetch it with ox listen --download DIR)\n", l.FileURL)
		}
	}
}

func writeHumanEvent(w io.Writer, l feed.Line) {
	switch {
	case l.Event == "certification-refused":
		fmt.Fprintf(w, "%s %s: [certification refused] %s\n", l.At, l.From, l.Reason)
	case l.Event == "certification-offer":
		fmt.Fprintf(w, "%s %s: [certification %d] certified %s of your key %s with key %s (trust: %s); accept it with 'ox trust accept-certification %d'\n",
			l.At, l.From, l.Offer, strings.Join(l.UserIDs, ", "), l.Target, l.Certifier, l.Trust, l.Offer)
	case l.Event == "file-progress":
		fmt.Fprintf(w, "%s file: %s: %d of %d bytes\n", l.At, l.FileURL, l.Done, l.Total)
	case strings.HasPrefix(l.Event, "key-") && l.Reason != "" && l.Fingerprint == "":
		fmt.Fprintf(w, "%s key warning: %s\n", l.At, l.Reason)
	case strings.HasPrefix(l.Event, "key-") && l.Reason != "":
		fmt.Fprintf(w, "%s key warning: %s %s key %s: %s\n", l.At, l.JID, strings.TrimPrefix(l.Event, "key-"), l.Fingerprint, l.Reason)
	case strings.HasPrefix(l.Event, "key-"):
		fmt.Fprintf(w, "%s key change: %s %s key %s (trust: %s)\n", l.At, l.JID, strings.TrimPrefix(l.Event, "key-"), l.Fingerprint, l.Trust)
	case l.Reason != "":
		fmt.Fprintf(w, "%s %s: %s\n", l.At, l.Event, l.Reason)
	default:
		fmt.Fprintf(w, "%s %s\n", l.At, l.Event)
	}
}

// bare is a JID's bare form: without its resource.
func bare(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}

// printer prints what listen commands receive, up to count messages
// (0: no limit), one at a time; done is closed once count is reached.
type printer struct {
	mu     sync.Mutex
	n      int
	count  int
	asJSON bool
	out    io.Writer
	done   chan struct{}
	once   sync.Once
	// stop ends the reading of messages once count is reached, so that
	// those that arrive past it are left for the next listen
	// (ox.Client.StopReading), not recorded as read and never shown.
	stop func()
}

// readBy makes the printer stop c's reading once count is reached (at
// once if it is).
func (p *printer) readBy(c *ox.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop = c.StopReading
	if p.full() {
		p.stop()
	}
}

func newPrinter(count int, asJSON bool, out io.Writer) *printer {
	return &printer{count: count, asJSON: asJSON, out: out, done: make(chan struct{})}
}

// message prints a message the pipeline delivered, with its file fetched
// first when dl is told to.
func (p *printer) message(m *ox.Message, dl *downloader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full() {
		return
	}
	l := feed.FromMessage(m)
	dl.attach(m, &l) // filecmds.go
	p.print(l)
}

// line prints l unless count is reached; false: it was not printed.
func (p *printer) line(l feed.Line) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full() && feed.Counts(l) {
		return false
	}
	p.print(l)
	return true
}

func (p *printer) full() bool { return p.count > 0 && p.n >= p.count }

// left is how many more messages count allows (0: no limit), for a
// daemon's subscribe.
func (p *printer) left() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count == 0 {
		return 0
	}
	return max(p.count-p.n, 1)
}

func (p *printer) print(l feed.Line) {
	writeLine(p.out, l, p.asJSON)
	// --count counts what others send (feed.Counts): not the copies of
	// the account's own messages, and a pending message only once read.
	if !feed.Counts(l) {
		return
	}
	p.n++
	if p.full() {
		if p.stop != nil {
			p.stop()
		}
		p.once.Do(func() { close(p.done) })
	}
}

// event shows a connection event (disconnected, ...) between messages.
func (p *printer) event(what, reason string) {
	p.line(feed.Event(what, reason, time.Now()))
}

// listenContext ends on ^C, SIGTERM (as parent, the command's context,
// does), or after wait (0: never).
func listenContext(parent context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if wait <= 0 {
		return ctx, stop
	}
	tctx, cancel := context.WithTimeout(ctx, wait)
	return tctx, func() { cancel(); stop() }
}

// messageText is the text to send: the second argument, or standard input
// without its final line end; an empty message is refused.
func (e *env) messageText(fs *flag.FlagSet) (string, error) {
	text := fs.Arg(1)
	if fs.NArg() == 1 {
		b, err := e.readInput("-")
		if err != nil {
			return "", err
		}
		text = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if strings.TrimSpace(text) == "" {
		return "", usagef("nothing to send: the message is empty")
	}
	return text, nil
}
