package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/mam"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/wot"
)

// netFlags are the connection settings a command may override.
type netFlags struct {
	server    string
	caFile    string
	directTLS bool
	timeout   time.Duration
}

func (n *netFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.server, "server", "", "connect to `HOST:PORT` instead of looking up the domain (env OX_SERVER)")
	fs.StringVar(&n.caFile, "ca-file", "", "trust the CA certificates in `FILE` (PEM) for a private server (env OX_CA_FILE)")
	fs.BoolVar(&n.directTLS, "direct-tls", false, "TLS from the first byte (XEP-0368) instead of STARTTLS")
	fs.DurationVar(&n.timeout, "connect-timeout", 30*time.Second, "give up connecting to the server after `DURATION`")
}

// online is a connected account, with the features the commands use.
type online struct {
	*session
	xmpp    *xmpp.Session
	client  *ox.Client
	rooms   *muc.Rooms
	archive *mam.Archive
	wot     *wot.WoT
	served  chan error // Serve's end
	// tls is the connection's TLS settings (its CA), for HTTPS too.
	tls *tls.Config
	// ctx is the command's time online: it ends on Ctrl-C or at
	// --timeout, and then the connection is closed.
	ctx  context.Context
	stop func() // ends ctx and its watch
	// resumed: the connection took over a lost session (XEP-0198 §5).
	resumed bool
	// reentered: the rooms that the session this one took over was in
	// and that this process has not joined (an earlier run's, or one
	// whose join again a loss cut); rejoin joins them.
	reentered []muc.Seat
	// joinMu is held while a room is joined on this connection (the
	// daemon's roomSend, rejoin).
	joinMu sync.Mutex
}

func (o *online) Close() {
	o.stop()
	ox.CloseSession(o.xmpp)
	o.session.Close()
}

// onlineContext is ctx, ended also by Ctrl-C (e.ctx) and, for a command
// with the global --timeout, after it.
func (e *env) onlineContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.ctx == nil { // an env made by hand, in a test
		e.ctx = context.Background()
	}
	octx, cancel := context.WithCancel(ctx)
	unwatch := context.AfterFunc(e.ctx, cancel)
	stop := func() { unwatch(); cancel() }
	if e.timeout > 0 {
		tctx, tcancel := context.WithTimeoutCause(octx, e.timeout, &timeoutError{e.timeout})
		octx, stop = tctx, func() { tcancel(); unwatch(); cancel() }
	}
	e.online = octx
	return octx, stop
}

// connect opens the account's store and logs in, with settings from the
// flags, then the environment, then the config file.
func (e *env) connect(ctx context.Context, n *netFlags, create bool) (*online, error) {
	return e.connectWith(ctx, n, create, nil)
}

// connectWith is connect with a chance to set the client up before it is
// served.
func (e *env) connectWith(ctx context.Context, n *netFlags, create bool, setup func(*ox.Client)) (o *online, err error) {
	return e.connectStaying(ctx, n, create, setup, staying{})
}

// staying is how a connection that stays up is made: the server is asked
// to keep the session for resumption when it is lost (resumable), resume
// is such a session to take over, with the rooms it was in (rooms, which
// a resumed session is in still; seats, which a session an earlier run
// left is in, and which a new login joins again with the history since
// since), and save and saveSeats keep the resumption and the rooms across
// a crash (resumeKeeper).
type staying struct {
	resumable bool
	resume    *ox.Resumption
	rooms     *muc.Rooms
	seats     []muc.Seat
	since     time.Time
	save      func(*ox.Resumption)
	saveSeats func([]muc.Seat)
}

// connectStaying is connectWith for a connection that stays up.
func (e *env) connectStaying(ctx context.Context, n *netFlags, create bool, setup func(*ox.Client), st staying) (o *online, err error) {
	ctx, stop := e.onlineContext(ctx)
	defer func() {
		if err != nil {
			stop()
		}
	}()
	s, err := e.open(ctx, create)
	if err != nil {
		return nil, err
	}
	cfg, _, err := e.loadConfig()
	if err != nil {
		s.Close()
		return nil, err
	}
	ac := cfg.find(s.jid.String())
	if ac == nil {
		ac = &accountConfig{JID: s.jid.String()}
	}
	a := ox.Account{JID: s.jid, Server: first(n.server, e.getenv("OX_SERVER"), ac.Server), DirectTLS: n.directTLS || ac.DirectTLS,
		SASL: first(e.getenv("OX_SASL"), ac.SASL), Resumable: st.resumable, Resume: st.resume, SaveResumption: st.save}
	if a.TLS, err = e.tlsConfig(n, ac); err != nil {
		s.Close()
		return nil, err
	}
	a.Password, err = e.password(ctx, s.jid.String(), ac.PasswordCommand)
	if err != nil {
		s.Close()
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	x, neg, err := ox.DialNegotiated(dctx, a)
	if err != nil {
		s.Close()
		return nil, dialHint(err)
	}
	c := s.Client
	c.Session = x
	if ac.Layout == "compact" {
		c.Layout = ox.LayoutCompact
	}
	o = &online{session: s, xmpp: x, client: c, rooms: muc.New(c), archive: mam.New(c), wot: wot.New(c), served: make(chan error, 1), tls: a.TLS, resumed: neg.Resumed}
	if neg.Resumed {
		// The rooms the lost session was in: those of this process,
		// and those of the session an earlier run left (or whose join
		// again the loss cut), which rejoin joins.
		o.reentered = o.rooms.TakeOver(st.rooms)
		if st.rooms == nil && len(st.seats) > 0 {
			o.rooms.Reenter(st.seats)
			o.reentered = st.seats
		}
	}
	if st.saveSeats != nil {
		o.rooms.OnChange(st.saveSeats)
	}
	if lost := e.roomLost; lost != nil {
		o.rooms.OnRemoved(func(room jid.JID, why string) {
			// Not on the session's goroutine: the daemon writes its
			// journal and to its subscribers.
			reason := fmt.Sprintf("removed from %s (%s), so its messages are not read", room, why)
			fmt.Fprintf(e.stderr, "ox: warning: %s\n", reason)
			go lost(room, reason)
		})
	}
	if setup != nil {
		setup(c)
	}
	go func() { o.served <- c.Serve(nil) }()
	// A command may wait on a context of its own: closing the connection
	// when ctx ends stops it all the same.
	unclose := context.AfterFunc(ctx, func() { x.Conn().Close() })
	o.ctx, o.stop = ctx, func() { unclose(); stop() }
	// A rotation whose grace period is over ends now: the old key is
	// revoked as superseded and published revoked.
	done, err := c.FinishRotations(ctx, s.now())
	for _, k := range done {
		fmt.Fprintf(e.stderr, "ox: the key rotation's grace period is over: key %s is revoked (superseded) and published revoked\n", k.Fingerprint)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "ox: warning: could not finish a key rotation (tried again next time): %v\n", err)
	}
	return o, nil
}

// tlsConfig is the connection's TLS settings: the CA from the flags, the
// environment or the account's config; nil for the system's.
func (e *env) tlsConfig(n *netFlags, ac *accountConfig) (*tls.Config, error) {
	ca := first(n.caFile, e.getenv("OX_CA_FILE"), ac.CAFile)
	if ca == "" {
		return nil, nil
	}
	pool, err := loadCAFile(ca) // certs.go
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool}, nil
}

// dialHint names what to do about a failed login, by its cause.
func dialHint(err error) error {
	var (
		ae *ox.AuthError
		te *ox.TLSError
		to *ox.TimeoutError
	)
	switch {
	case errors.As(err, &ae) && ae.Kind == ox.AuthChannelBinding:
		return withHint(err, "the server's channel binding is broken: force a mechanism without it (ox account add JID --sasl SCRAM-SHA-1, or OX_SASL)")
	case errors.As(err, &ae) && ae.Kind == ox.AuthMechanism:
		return withHint(err, "choose a mechanism the server offers (ox account add JID --sasl MECHANISM, or OX_SASL)")
	case errors.As(err, &ae) && ae.Kind == ox.AuthServer:
		return withHint(err, "try again later; if it lasts, the server (or something between) does not know the password")
	case errors.As(err, &ae):
		return withHint(err, "check the password (OX_PASSWORD, the password command, or the prompt)")
	case errors.Is(err, ox.ErrNoStartTLS):
		return withHint(err, "ox never logs in without TLS; if the server has direct TLS (XEP-0368), use --direct-tls and its port")
	case errors.As(err, &te):
		return withHint(err, "for a private server, give its CA (--ca-file); check the server address (--server, OX_SERVER)")
	case errors.As(err, &to):
		return withHint(err, "check the server address (--server, OX_SERVER) and the network, or allow more time (--connect-timeout)")
	}
	return withHint(err, "check the server address (--server, OX_SERVER) and, for a private server, its CA (--ca-file)")
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// password comes from OX_PASSWORD, the password command, or a prompt on
// the terminal; never from the command line.
func (e *env) password(ctx context.Context, account, command string) (string, error) {
	if p := e.getenv("OX_PASSWORD"); p != "" {
		return p, nil
	}
	if command != "" {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, "sh", "-c", command).Output()
		if err != nil {
			return "", withHint(fmt.Errorf("password command failed: %v", err), "check the account's password command ('ox account list')")
		}
		line, _, _ := strings.Cut(string(out), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	return e.prompt("password for " + account)
}

// prompt asks on the terminal, without echo; it never reads a secret from
// a pipe that was meant for data.
func (e *env) prompt(what string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", withHint(fmt.Errorf("no %s and no terminal to ask for it", what), "set it in the environment (OX_PASSWORD, OX_BACKUP_CODE) or, for a password, save a password command with 'ox account add'")
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s: ", what)
	fd := int(tty.Fd())
	// Ctrl-C while asking ends the command: the read goes on in the
	// background until tty is closed, and the echo comes back now.
	var saved *term.State
	if term.IsTerminal(fd) {
		saved, _ = term.GetState(fd)
	}
	type answer struct {
		b   []byte
		err error
	}
	read := make(chan answer, 1)
	go func() {
		if saved != nil {
			b, err := term.ReadPassword(fd)
			read <- answer{b, err}
			return
		}
		line, err := bufio.NewReader(tty).ReadString('\n')
		read <- answer{[]byte(strings.TrimRight(line, "\r\n")), err}
	}()
	done := context.Background().Done()
	if e.ctx != nil {
		done = e.ctx.Done()
	}
	var b []byte
	select {
	case a := <-read:
		b, err = a.b, a.err
	case <-done:
		if saved != nil {
			term.Restore(fd, saved)
		}
		fmt.Fprintln(tty)
		return "", e.ctx.Err()
	}
	if saved != nil {
		fmt.Fprintln(tty)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	return string(b), nil
}
