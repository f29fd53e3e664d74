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
	"strings"
	"sync"
	"syscall"
	"time"

	"mellium.im/xmpp/carbons"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/mam"
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
			o, err := e.connect(e.ctx, &sendNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			// A one-shot command hears no key-change notifications: read
			// the recipient's metadata node for every message.
			o.client.MaxKeyAge = -1
			var rep *ox.SendReport
			if sendFile != "" {
				payload, uerr := e.uploadFile(o, sendFile) // filecmds.go
				if uerr != nil {
					return uerr
				}
				rep, err = o.client.SendPayload(o.ctx, to, payload)
			} else {
				rep, err = o.client.Send(o.ctx, to, text)
			}
			var nk *ox.NoUsableKeyError
			if errors.As(err, &nk) && len(nk.Undecided)+len(nk.NeverValidInGnuPG) > 0 {
				return withHint(err, "nothing was sent; "+usableKeyHint(nk))
			}
			if errors.As(err, &nk) {
				return withHint(err, "nothing was sent; ask "+to.String()+" to publish a current OX key, or import one with 'ox cert import FILE'")
			}
			if err != nil {
				return pepHint(err)
			}
			fmt.Fprintf(e.stderr, "ox: sent to %s, encrypted to %d of their key(s) and %d of yours\n", to, len(rep.Recipients), len(rep.Self))
			for _, f := range rep.Undecided {
				fmt.Fprintf(e.stderr, "ox: warning: %s's key %s is undecided, so that device cannot read it; compare fingerprints and run 'ox trust verify %s %s'\n", to, f, to, f)
			}
			for _, f := range rep.Unannounced {
				fmt.Fprintf(e.stderr, "ox: warning: key %s with the user ID xmpp:%s is stored but %s does not announce it, so it was not encrypted to\n", f, to, to)
			}
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
			dl := newDownloader(e, downloadDir, max, asJSON)
			ctx, stop := listenContext(e.ctx, wait)
			defer stop()
			pr := newPrinter(count, func(m *ox.Message) {
				if asJSON {
					writeJSON(e.stdout, m, dl)
				} else {
					writeHuman(e.stdout, m, dl)
				}
			})
			pr.out = e.stdout
			show, done := pr.show, pr.done
			if listenWindow <= 0 {
				return usagef("--window must be a positive duration, such as 10m")
			}
			setup := func(c *ox.Client) {
				c.Window = listenWindow
				c.OnMessage = show
				c.OnKeyChange = func(k ox.KeyChange) {
					pr.mu.Lock()
					defer pr.mu.Unlock()
					if asJSON {
						feed.Write(e.stdout, feed.FromKeyChange(k, time.Now()))
						return
					}
					if k.Reason != "" && k.Fingerprint == "" {
						fmt.Fprintf(e.stdout, "%s key warning: %s\n", time.Now().UTC().Format(time.RFC3339), k.Reason)
						return
					}
					if k.Reason != "" {
						fmt.Fprintf(e.stdout, "%s key warning: %s %s key %s: %s\n", time.Now().UTC().Format(time.RFC3339), k.JID, k.What, k.Fingerprint, k.Reason)
						return
					}
					fmt.Fprintf(e.stdout, "%s key change: %s %s key %s (trust: %s)\n", time.Now().UTC().Format(time.RFC3339), k.JID, k.What, k.Fingerprint, k.Trust)
				}
			}
			// Stay connected: a lost connection is reported, and ox logs in
			// again after a backoff and catches up (offline store, archive),
			// so nothing is lost and nothing is shown twice (the pipeline
			// remembers what it delivered). A refused login or certificate
			// ends listen: trying again would not mend it.
			for attempt, connected := 0, false; ; {
				lost, err := e.listenOnce(ctx, &listenNet, setup, show, done, dl)
				if err == nil && lost == nil {
					return nil
				}
				// The first login's failure is the user's to see; after
				// that, only what trying again cannot mend ends listen.
				if err != nil && (!connected || !ox.Transient(err)) {
					return err
				}
				connected = true
				why := lost
				if why == nil {
					why = err
				}
				wait := ox.Backoff(attempt, 500*time.Millisecond, 30*time.Second, rand.Float64())
				pr.event(asJSON, "disconnected", fmt.Sprintf("%v; connecting again in %v", why, wait.Round(time.Millisecond)))
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
				attempt++
				if lost != nil {
					attempt = 0 // the connection was up: start the backoff again
				}
			}
		},
	})
}

// listenOnce is one connection of listen: log in, catch up, show what
// comes until done, ctx's end or the connection's loss (lost).
func (e *env) listenOnce(ctx context.Context, n *netFlags, setup func(*ox.Client), show func(*ox.Message), done <-chan struct{}, dl *downloader) (lost, err error) {
	o, err := e.connectWith(ctx, n, false, setup)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	dl.connected(o)
	if err := carbons.Enable(ctx, o.xmpp); err != nil {
		fmt.Fprintf(e.stderr, "ox: warning: the server refused message carbons, so messages to and from your other devices will not show: %v\n", err)
	}
	if err := o.client.Online(ctx); err != nil {
		return err, nil
	}
	// What arrived while this device was away and went to another
	// device (so not to the offline store): from the archive.
	for {
		_, err := o.archive.CatchUp(ctx)
		if errors.Is(err, mam.ErrMoreInArchive) {
			continue
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "ox: warning: could not read the message archive (XEP-0313), so messages another device took while this one was away may be missing: %v\n", err)
		}
		break
	}
	// Messages kept because their sender's key was missing: the
	// key may be known by now.
	if ms, err := o.client.RetryPending(ctx, jid.JID{}); err == nil {
		for _, m := range ms {
			show(m)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	case err := <-o.served:
		if err == nil {
			err = ox.ErrServerClosed
		}
		return err, nil
	}
	return nil, nil
}

func writeJSON(w io.Writer, m *ox.Message, d *downloader) {
	l := feed.FromMessage(m)
	d.attach(m, &l) // filecmds.go
	feed.Write(w, l)
}

func writeHuman(w io.Writer, m *ox.Message, d *downloader) {
	if m.Certification != nil {
		writeCertification(w, m, false) // wotcmds.go
		return
	}
	from := m.From.Bare().String()
	if m.Sent {
		from = "you -> " + m.To.Bare().String()
	}
	switch {
	case m.Pending:
		fmt.Fprintf(w, "%s %s: [pending] %s\n", m.Delivered.UTC().Format(time.RFC3339), from, m.Err)
	case m.Err != nil:
		fmt.Fprintf(w, "%s %s: [rejected] %s\n", m.Delivered.UTC().Format(time.RFC3339), from, m.Err)
	default:
		marker := ""
		if m.Trust == trust.Undecided {
			marker = "[undecided key " + m.Signer.String() + "] "
		}
		fmt.Fprintf(w, "%s %s: %s%s\n", m.Time.UTC().Format(time.RFC3339), from, marker, m.Body)
		for _, x := range m.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", x)
		}
		var l feed.Line
		d.attach(m, &l) // filecmds.go
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

// printer prints what listen commands receive, up to count messages
// (0: no limit), one at a time; done is closed once count is reached.
type printer struct {
	mu    sync.Mutex
	n     int
	count int
	write func(*ox.Message)
	done  chan struct{}
	once  sync.Once
	out   io.Writer // for events
}

func newPrinter(count int, write func(*ox.Message)) *printer {
	return &printer{count: count, write: write, done: make(chan struct{})}
}

func (p *printer) show(m *ox.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count > 0 && p.n >= p.count {
		return
	}
	p.write(m)
	// --count counts what others send: not the copies of the account's
	// own messages (carbons, the archive, a room's echo), and a pending
	// message only once it is read.
	if m.Sent || m.Pending {
		return
	}
	p.n++
	if p.count > 0 && p.n >= p.count {
		p.once.Do(func() { close(p.done) })
	}
}

// event shows a connection event (disconnected, ...) between messages.
func (p *printer) event(asJSON bool, what, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if asJSON {
		feed.Write(p.out, feed.Line{Type: feed.TypeEvent, Event: what, Reason: reason, At: time.Now().UTC().Format(time.RFC3339)})
		return
	}
	fmt.Fprintf(p.out, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339), what, reason)
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
