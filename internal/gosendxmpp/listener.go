package gosendxmpp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/internal/prosody"
)

const (
	// MaxListen is the longest a listener runs: it is killed then even if
	// nobody calls Stop.
	MaxListen = 10 * time.Minute

	// stopTimeout bounds the wait after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second

	// deprecatedResource is what go-sendxmpp prints for -r, which Listen
	// uses to know the listener's resource; Output leaves it out.
	deprecatedResource = "Deprecated flag: --resource.\n"
)

// Listener is a running "go-sendxmpp --ox --listen". It prints one line per
// received message:
//
//	2026-11-26T13:26:09Z [OX] alice@localhost: hello      (OX, decrypted and verified)
//	2026-11-26T13:26:10Z alice@localhost: hello           (unencrypted)
//
// (RFC 3339 time in UTC, the sender's bare JID; further lines of a multi-line
// message follow as they are, without prefix). When it cannot fetch the
// sender's key it logs "2026/11/26 13:27:28 Error while requesting public
// openpgp keys for alice@localhost" instead and goes on listening.
type Listener struct {
	JID string // the listener's full JID

	cmd    *exec.Cmd
	out    *outBuf
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, read after done
	cancel context.CancelFunc

	stopOnce sync.Once
	stopErr  error
}

// Listen starts go-sendxmpp --ox --listen in the background and returns once
// its session is available, so a message sent to the peer's bare JID
// afterwards reaches it. go-sendxmpp prints nothing when it is ready; Listen
// knows by a second session of the same account (resource
// "gosendxmpp-watch-…", presence priority -1 so it neither receives messages
// for the bare JID nor takes offline messages), which the server tells of the
// listener's initial presence. ctx bounds this start only; the listener runs
// until Stop, the end of the test, or MaxListen.
func (p *Peer) Listen(ctx context.Context) (*Listener, error) {
	// Without a key go-sendxmpp would log in, send its presence and only
	// then exit.
	if _, err := p.PrivateKey(); err != nil {
		return nil, fmt.Errorf("gosendxmpp: listen needs a key (GenerateKey or ImportKey): %w", err)
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	resource := "gosendxmpp-listen-" + randHex()
	l := &Listener{JID: p.JID + "/" + resource, out: newOutBuf(), done: make(chan struct{})}

	w, err := p.watchPresence(ctx, l.JID)
	if err != nil {
		return nil, err
	}
	defer w.close()

	// The process gets its own context: it must outlive ctx.
	life, lifeCancel := context.WithTimeout(context.Background(), MaxListen)
	l.cancel = lifeCancel
	l.cmd = p.command(life, "-r", resource, "--ox", "--listen")
	l.cmd.Stdin = nil // /dev/null
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	l.cmd.WaitDelay = time.Second
	if err := l.cmd.Start(); err != nil {
		lifeCancel()
		return nil, fmt.Errorf("gosendxmpp: start listener for %s: %w", p.JID, err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.done)
	}()

	select {
	case <-w.ready:
		p.mu.Lock()
		p.listeners = append(p.listeners, l)
		p.mu.Unlock()
		return l, nil
	case <-l.done:
		l.Stop()
		return nil, fmt.Errorf("gosendxmpp: listener for %s exited at start: %v\n%s", p.JID, l.err, l.Output())
	case <-w.served:
		l.Stop()
		return nil, fmt.Errorf("gosendxmpp: presence watcher for %s ended: %v", p.JID, w.err)
	case <-ctx.Done():
		l.Stop()
		return nil, fmt.Errorf("gosendxmpp: listener %s not available: %w\n%s", l.JID, ctx.Err(), l.Output())
	}
}

// PID is the listener's process ID.
func (l *Listener) PID() int { return l.cmd.Process.Pid }

// Output is everything the listener printed so far (stdout and stderr),
// without go-sendxmpp's warning about -r.
func (l *Listener) Output() string {
	return strings.Replace(l.out.String(), deprecatedResource, "", 1)
}

// Wait waits until a complete line of the listener's output contains text
// (one line: no newline in text), and returns that line (without its
// newline). It looks at all the output, also what came before the call. It fails when ctx ends (or
// after DefaultTimeout if ctx has no deadline) or the listener exits first.
func (l *Listener) Wait(ctx context.Context, text string) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	for {
		out, changed := l.out.snapshot()
		if line, ok := lineWith(out, text); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-l.done:
			out, _ := l.out.snapshot()
			if line, ok := lineWith(out+"\n", text); ok {
				return line, nil
			}
			return "", fmt.Errorf("gosendxmpp: listener %s exited (%v) before %q showed up; output:\n%s", l.JID, l.err, text, l.Output())
		case <-ctx.Done():
			return "", fmt.Errorf("gosendxmpp: listener %s: %q did not show up: %w; output:\n%s", l.JID, text, ctx.Err(), l.Output())
		}
	}
}

// Stop ends the listener process by its PID: SIGTERM, then SIGKILL after
// 5 s. It returns an error if the listener had exited before Stop, or did not
// end on SIGTERM. Later calls return the first result.
func (l *Listener) Stop() error {
	_, err := l.stop()
	return err
}

// stop is Stop; first reports whether this call did the stopping.
func (l *Listener) stop() (first bool, err error) {
	l.stopOnce.Do(func() {
		first = true
		defer l.cancel()
		select {
		case <-l.done:
			l.stopErr = fmt.Errorf("gosendxmpp: listener %s (pid %d) exited before Stop: %v\n%s", l.JID, l.PID(), l.err, l.Output())
			return
		default:
		}
		// cmd.Process is bound to our child (a pidfd on Linux).
		if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			l.stopErr = fmt.Errorf("gosendxmpp: SIGTERM listener pid %d: %w", l.PID(), err)
		}
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-l.done:
		case <-t.C:
			_ = l.cmd.Process.Kill()
			<-l.done
			l.stopErr = fmt.Errorf("gosendxmpp: listener pid %d ignored SIGTERM for %v; killed", l.PID(), stopTimeout)
		}
	})
	return first, l.stopErr
}

// watcher is a session of the peer's account that waits for the presence of
// one full JID.
type watcher struct {
	sess   *xmpp.Session
	ready  chan struct{}
	served chan struct{} // closed when Serve has returned
	err    error         // Serve's result, read after served
}

func (p *Peer) watchPresence(ctx context.Context, full string) (*watcher, error) {
	sess, err := p.srv.Dial(ctx, p.local, p.Password, "gosendxmpp-watch-"+randHex())
	if err != nil {
		return nil, fmt.Errorf("gosendxmpp: presence watcher: %w", err)
	}
	w := &watcher{sess: sess, ready: make(chan struct{}), served: make(chan struct{})}
	var once sync.Once
	go func() {
		defer close(w.served)
		w.err = sess.Serve(xmpp.HandlerFunc(func(_ xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "presence" {
				return nil
			}
			var from, typ string
			for _, a := range start.Attr {
				switch a.Name.Local {
				case "from":
					from = a.Value
				case "type":
					typ = a.Value
				}
			}
			if from == full && typ == "" {
				once.Do(func() { close(w.ready) })
			}
			return nil
		}))
	}()
	// Available, but negative priority: no messages to the bare JID, no
	// offline messages. The server sends us the presence of the account's
	// other available resources now, and of those that come later.
	prio := xmlstream.Wrap(xmlstream.Token(xml.CharData("-1")), xml.StartElement{Name: xml.Name{Local: "priority"}})
	if err := sess.Send(ctx, stanza.Presence{}.Wrap(prio)); err != nil {
		w.close()
		return nil, fmt.Errorf("gosendxmpp: presence watcher: %w", err)
	}
	return w, nil
}

func (w *watcher) close() {
	_ = prosody.CloseSession(w.sess)
	select {
	case <-w.served:
	case <-time.After(2 * time.Second):
	}
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lineWith returns the first newline-terminated line of out that contains
// text.
func lineWith(out, text string) (string, bool) {
	for {
		i := strings.IndexByte(out, '\n')
		if i < 0 {
			return "", false
		}
		if line := out[:i]; strings.Contains(line, text) {
			return line, true
		}
		out = out[i+1:]
	}
}

// outBuf collects a process's output and tells waiters when it grows.
type outBuf struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newOutBuf() *outBuf { return &outBuf{changed: make(chan struct{})} }

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *outBuf) String() string {
	s, _ := o.snapshot()
	return s
}

// snapshot returns the output so far and a channel closed when it grows.
func (o *outBuf) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String(), o.changed
}
