package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/muc"
)

// roomFlags are what the room commands share: the connection and the nick.
type roomFlags struct {
	net  netFlags
	nick string
}

func (f *roomFlags) register(fs *flag.FlagSet) {
	f.net.register(fs)
	fs.StringVar(&f.nick, "nick", "", "join as `NICK` (default: the account's local part)")
}

func parseRoom(s string) (jid.JID, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "xmpp:"))
	s = strings.TrimSuffix(s, "?join")
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, fmt.Errorf("%q is not a valid room JID: %v", s, err)
	}
	if j.Localpart() == "" || j.Resourcepart() != "" {
		return jid.JID{}, fmt.Errorf("%q is not a room: want a JID like room@conference.example.org", s)
	}
	return j, nil
}

// nick is the nick to join a room as: the one given, else the account's
// local part.
func (o *online) nick(given string) string {
	if given == "" {
		return o.jid.Localpart()
	}
	return given
}

// join connects and enters the room.
func (e *env) join(ctx context.Context, f *roomFlags, room jid.JID, setup func(*ox.Client), opts ...muc.JoinOption) (*online, *muc.Room, error) {
	o, err := e.connectWith(ctx, &f.net, false, setup)
	if err != nil {
		return nil, nil, err
	}
	r, err := o.rooms.Join(o.ctx, room, o.nick(f.nick), opts...)
	if err != nil {
		o.Close()
		return nil, nil, joinHint(err)
	}
	return o, r, nil
}

// roomSendTo sends text, or the file at path, to the joined room r: ox
// room send and the daemon's roomSend. Who cannot read it is in the
// report (printRoomSent), or, when nothing was sent, a warning here.
func (e *env) roomSendTo(o *online, r *muc.Room, text, path string) (*muc.GroupReport, error) {
	var rep *muc.GroupReport
	var err error
	if path != "" {
		payload, uerr := e.uploadFile(o, path) // filecmds.go
		if uerr != nil {
			return nil, uerr
		}
		rep, err = o.rooms.SendPayload(o.ctx, r, payload)
	} else {
		rep, err = o.rooms.SendGroup(o.ctx, r, text)
	}
	if err != nil && rep != nil {
		warnMissing(e.stderr, rep)
	}
	if errors.Is(err, muc.ErrNoGroupRecipients) {
		return nil, withHint(err, "ask the others to publish a current OX key ('ox key publish')")
	}
	if err != nil {
		return nil, pepHint(joinHint(err))
	}
	return rep, nil
}

func printRoomSent(w io.Writer, room jid.JID, res roomSendResult) {
	for _, m := range res.Missing {
		fmt.Fprintf(w, "ox: warning: %s\n", m)
	}
	fmt.Fprintf(w, "ox: sent to %s, encrypted to %d participant(s) (%d key(s)) and %d of your keys\n", room, res.Participants, res.Keys, res.Self)
}

func joinHint(err error) error {
	var je *muc.JoinError
	switch {
	case errors.Is(err, muc.ErrSemiAnonymous):
		return withHint(err, "OX needs a non-anonymous room; nothing was sent or read there")
	case errors.As(err, &je) && je.Condition == "conflict":
		return withHint(err, "choose another nick with --nick")
	}
	return err
}

// leave leaves the room, then logs out.
func leave(o *online, r *muc.Room) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o.rooms.Leave(ctx, r)
	o.Close()
}

// warnMissing names, one line each, the participants who cannot read what
// is sent to the room.
func warnMissing(w io.Writer, rep *muc.GroupReport) {
	for _, p := range rep.Missing {
		fmt.Fprintf(w, "ox: warning: %s cannot read it: %s\n", p.Name(), p.Reason)
	}
}

func init() {
	var sendFlags roomFlags
	var roomFile string
	register(&command{
		name:    "room send",
		args:    "ROOM [TEXT] | ROOM --file PATH",
		summary: "join a non-anonymous group chat (XEP-0045), send an OX message (TEXT, or standard input) encrypted to everyone in it, leave",
		examples: `  ox room send team@conference.example.org 'deploy done'
  echo alert | ox room send --nick cron team@conference.example.org
  ox room send team@conference.example.org --file notes.pdf
`,
		flags: func(fs *flag.FlagSet) {
			sendFlags.register(fs)
			fs.StringVar(&roomFile, "file", "", "share the file at `PATH` (encrypted, uploaded, its link sent OX-encrypted)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() < 1 || fs.NArg() > 2 || (roomFile != "" && fs.NArg() != 1) {
				return usagef("room send takes a room JID and, optionally, the text (or --file PATH)")
			}
			room, err := parseRoom(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			var text string
			if roomFile == "" {
				if text, err = e.messageText(fs); err != nil {
					return err
				}
			}
			if dc, err := e.daemonClient(); err != nil {
				return err
			} else if dc != nil {
				defer dc.Close()
				var res roomSendResult
				if err := dc.Call(e.ctx, "roomSend", roomSendParams{Room: room.String(), Text: text, File: absPath(roomFile), Nick: sendFlags.nick}, &res); err != nil {
					return fromDaemon(err)
				}
				printRoomSent(e.stderr, room, res)
				return nil
			}
			o, r, err := e.join(e.ctx, &sendFlags, room, nil, muc.MaxHistory(0))
			if err != nil {
				return err
			}
			defer leave(o, r)
			rep, err := e.roomSendTo(o, r, text, roomFile)
			if err != nil {
				return err
			}
			printRoomSent(e.stderr, room, roomSendResultOf(rep))
			return nil
		},
	})

	var whoFlags roomFlags
	register(&command{
		name:    "room who",
		args:    "ROOM",
		summary: "join a group chat briefly and list who is in it (and its members), with real JIDs, and who can read OX messages sent there",
		examples: `  ox room who team@conference.example.org
`,
		flags: whoFlags.register,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("room who takes a room JID")
			}
			room, err := parseRoom(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			o, r, err := e.join(e.ctx, &whoFlags, room, nil, muc.MaxHistory(0))
			if err != nil {
				return err
			}
			defer leave(o, r)
			rep, err := o.rooms.GroupRecipients(o.ctx, r)
			if err != nil {
				return pepHint(err)
			}
			fmt.Fprintf(e.stdout, "%s (you): can read\n", r.Nick)
			for _, p := range rep.Recipients {
				fmt.Fprintf(e.stdout, "%s: can read (%d key(s))\n", p.Name(), len(p.Keys))
			}
			for _, p := range rep.Missing {
				fmt.Fprintf(e.stdout, "%s: cannot read: %s\n", p.Name(), p.Reason)
			}
			return nil
		},
	})

	var listenFlags roomFlags
	var asJSON bool
	var count, history int
	var wait time.Duration
	register(&command{
		name:    "room listen",
		args:    "ROOM",
		summary: "join a non-anonymous group chat and print its OX messages (the recent history first), each with the sender's verified real JID; it stays in the room when the connection is lost, and ends (exit 1) when the room puts you out (destroyed, a kick, a ban)",
		examples: `  ox room listen team@conference.example.org
  ox room listen --json --count 1 --timeout 30s team@conference.example.org
`,
		flags: func(fs *flag.FlagSet) {
			listenFlags.register(fs)
			fs.BoolVar(&asJSON, "json", false, "one JSON object per line")
			fs.IntVar(&count, "count", 0, "stop after `N` messages from others, not counting the room's echo of your own (0: never)")
			fs.DurationVar(&wait, "timeout", 0, "stop after `DURATION` (0: never)")
			fs.IntVar(&history, "history", -1, "ask the room for at most `N` messages of history (-1: the room's default)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("room listen takes a room JID")
			}
			room, err := parseRoom(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			ctx, stop := listenContext(e.ctx, wait)
			defer stop()
			pr := newPrinter(count, asJSON, e.stdout)
			sub := subscribeParams{Room: room.String(), Nick: listenFlags.nick}
			if history >= 0 {
				sub.History = &history
			}
			// While a daemon runs for the account, it holds the one
			// connection: it joins the room (and stays in it, as for
			// roomSend) and hands out the room's lines (daemoncmds.go).
			// A second connection would read the account's other
			// messages too, and those it read first the daemon would
			// take for shown and never hand to its subscribers.
			if dc, err := e.daemonClient(); err != nil {
				return err
			} else if dc != nil {
				return e.listenThroughDaemon(ctx, dc, pr, newDownloader(e, "", 0, asJSON), &listenFlags.net, sub, "")
			}
			// It stays in the room as listen stays online (stayOnline): a
			// resumed session is still in it; after a new login it joins
			// again and reads the history since the last message it
			// showed (the pipeline drops what it showed already).
			var mu sync.Mutex
			var last time.Time // this device's clock
			show := func(m *ox.Message) {
				if m.Room.Equal(room) {
					mu.Lock()
					last = time.Now()
					mu.Unlock()
				}
				pr.message(m, nil)
			}
			setup := func(c *ox.Client) { c.OnMessage = show; pr.readBy(c) }
			enter := func(o *online) error {
				mu.Lock()
				since := last
				mu.Unlock()
				var opts []muc.JoinOption
				switch {
				case !since.IsZero():
					// A minute before: the room's clock may be behind.
					opts = append(opts, muc.HistorySince(since.Add(-time.Minute)))
				case history >= 0:
					opts = append(opts, muc.MaxHistory(history))
				}
				if _, err := o.rooms.Join(o.ctx, room, o.nick(listenFlags.nick), opts...); err != nil {
					if ctx.Err() != nil && wait > 0 {
						return fmt.Errorf("could not join %s within --timeout %v: %w", room, wait, err)
					}
					return joinHint(err)
				}
				mu.Lock()
				if last.IsZero() {
					last = time.Now()
				}
				mu.Unlock()
				return nil
			}
			// The room putting the account out (destroyed, a kick, a
			// ban) ends it, with the reason; a line says so first.
			rctx, removed := context.WithCancelCause(ctx)
			defer removed(nil)
			e.roomLost = func(r jid.JID, reason string) {
				pr.line(feed.RoomLeft(r.String(), reason, time.Now()))
				if r.Equal(room) {
					removed(roomLeftError(reason))
				}
			}
			// Alone until a daemon starts for the account; then through
			// it, which joins the room with its history: the pipeline
			// drops what was shown here (the store is shared).
			release := e.listenAlone()
			defer release()
			dc, err := e.untilDaemon(rctx, func(ctx context.Context) error {
				return e.stayOnline(ctx, &listenFlags.net, setup, show, pr.done, func(*online) {}, enter, pr.event)
			})
			release()
			if rctx.Err() != nil && ctx.Err() == nil {
				if dc != nil {
					dc.Close()
				}
				return context.Cause(rctx)
			}
			if dc == nil {
				return err
			}
			pr.event("disconnected", handedOver)
			return e.listenThroughDaemon(ctx, dc, pr, newDownloader(e, "", 0, asJSON), &listenFlags.net, sub, handedOver)
		},
	})
}
