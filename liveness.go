package ox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"

	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/pgp"
)

// A session's life as the Client sees it: every request waits at most
// RequestTimeout, and no longer than the session lives; a session whose
// stream ended fails every request under way at once; an idle session is
// checked with pings (XEP-0199) so that a dead path is noticed.

// DefaultRequestTimeout bounds one operation's requests to the server (a
// publish, a fetch, a send and its confirmation) unless the caller's
// context ends sooner.
const DefaultRequestTimeout = 30 * time.Second

// DefaultPingInterval is how long a served session may be idle before the
// Client pings the server (XEP-0199 §4.2); DefaultPingTimeout how long it
// waits for the answer before it takes the connection for dead.
const (
	DefaultPingInterval = time.Minute
	DefaultPingTimeout  = 20 * time.Second
)

// ErrConnectionLost: the stream to the server ended (the server closed it,
// the network failed, or a ping went unanswered) while a request waited.
var ErrConnectionLost = errors.New("ox: the connection to the server was lost")

// ErrTimeout: the server did not answer within the request's deadline.
var ErrTimeout = errors.New("ox: the server did not answer in time")

// UnknownOutcomeError: a message was handed to the connection, but the
// server did not confirm it before the connection failed or the deadline
// passed: it may or may not have been delivered. Sending it again may
// deliver it twice; Client.Confirm may settle it on a later session.
type UnknownOutcomeError struct {
	To  jid.JID
	ID  string // the message's id
	Err error  // why it is unknown
	// Report is what Send would have returned had the server confirmed
	// it (nil when the message was not wholly written).
	Report *SendReport

	// Where it was written: the connection, and its place in a
	// resumable stream (smConn.written).
	conn   *smConn
	stream string
	seq    uint32
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("ox: the message to %s may have been delivered: the server did not confirm it (%v)", e.To, e.Err)
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// NotSentError: the connection failed before the message was written
// whole, so it never reached the server; sending it again is safe. It
// comes wrapped with why (ErrConnectionLost, ErrTimeout).
type NotSentError struct{ To jid.JID }

func (e *NotSentError) Error() string {
	return fmt.Sprintf("ox: the message to %s was not sent", e.To)
}

// Confirm settles the outcome of a message whose Send ended in e, on the
// Client's session now. It is nil when the server has read the message:
// the session is the one the message was written to, or one that took
// over that session or its successors (stream resumption, XEP-0198 §5:
// the server had handled it, or ox sent it again when it resumed), and
// the server answered a ping sent after it. Otherwise it is an
// *UnknownOutcomeError still: e itself when this session cannot tell (a
// new login: what the lost session had not handled is gone with it), or
// a new one, which a later session may settle, when this one failed
// before the server answered.
func (c *Client) Confirm(ctx context.Context, e *UnknownOutcomeError) error {
	sm := sessionSM(c.Session)
	if e == nil || e.Report == nil || sm == nil || (sm != e.conn && !sm.covers(e.stream, e.seq)) {
		return e
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	if err := ping.Send(ctx, c.Session, c.JID().Domain()); err != nil {
		again := *e
		again.Err = c.failure(ctx, err)
		return &again
	}
	return nil
}

// life is the served session's context: it ends, with the cause, when the
// stream ends.
type life struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
	active time.Time // last time anything was read from the session
}

// sessionContext is the context of the current session's life (a live
// one, never ended, before Serve).
func (c *Client) sessionContext() context.Context {
	c.life.mu.Lock()
	defer c.life.mu.Unlock()
	if c.life.ctx == nil {
		c.life.ctx, c.life.cancel = context.WithCancelCause(context.Background())
	}
	return c.life.ctx
}

// endSession ends the session's life with cause, failing every request
// under way.
func (c *Client) endSession(cause error) {
	c.sessionContext()
	c.life.mu.Lock()
	defer c.life.mu.Unlock()
	c.life.cancel(cause)
}

func (c *Client) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return DefaultRequestTimeout
}

// request bounds one operation with the server: the caller's context, the
// session's life and RequestTimeout, whichever ends first. done turns a
// failure into ErrConnectionLost or ErrTimeout when that is what it was.
func (c *Client) request(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeoutCause(ctx, c.requestTimeout(), ErrTimeout)
	sess := c.sessionContext()
	stop := context.AfterFunc(sess, func() { cancel() })
	return rctx, func() { stop(); cancel() }
}

// failure names why a request failed when its context ended under it:
// the stream ended (ErrConnectionLost, with the stream's own reason), the
// deadline passed (ErrTimeout), or the caller gave up (its error).
func (c *Client) failure(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrTimeout) {
		return err
	}
	if ctx.Err() == nil {
		if connBroken(err) {
			// The write failed before Serve saw the stream end.
			return fmt.Errorf("%w: %v", ErrConnectionLost, err)
		}
		return err
	}
	// A context's own error says nothing more than its cause.
	noise := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if sess := c.sessionContext(); sess.Err() != nil {
		if noise {
			return context.Cause(sess)
		}
		return fmt.Errorf("%w (%v)", context.Cause(sess), err)
	}
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		if noise {
			return fmt.Errorf("%w (%v)", ErrTimeout, c.requestTimeout())
		}
		return fmt.Errorf("%w (%v)", ErrTimeout, err)
	}
	return err
}

func (c *Client) pingInterval() time.Duration {
	if c.PingInterval != 0 {
		return c.PingInterval
	}
	return DefaultPingInterval
}

// keepAlive pings the server whenever the session was idle for the ping
// interval; an unanswered ping closes the connection, so that Serve
// returns and every request under way fails. It returns when the session
// ends.
func (c *Client) keepAlive(sess context.Context) {
	every := c.pingInterval()
	if every < 0 {
		return // pings off
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-sess.Done():
			return
		case <-c.work.ctx.Done():
			return
		case <-t.C:
		}
		c.life.mu.Lock()
		idle := time.Since(c.life.active) >= every
		c.life.mu.Unlock()
		if !idle {
			continue
		}
		pctx, cancel := context.WithTimeout(sess, DefaultPingTimeout)
		err := ping.Send(pctx, c.Session, c.JID().Domain())
		cancel()
		if err != nil && sess.Err() == nil {
			c.endSession(fmt.Errorf("%w: the server did not answer a ping within %v", ErrConnectionLost, DefaultPingTimeout))
			c.Session.Conn().Close()
			return
		}
	}
}

// touch records that the session is alive (something was read from it).
func (c *Client) touch() {
	c.life.mu.Lock()
	c.life.active = time.Now()
	c.life.mu.Unlock()
}

// Request bounds one operation of a feature (package muc, mam, wot) with
// the server as the Client's own are: the caller's context, the session's
// life and RequestTimeout. RequestError then names why it failed.
func (c *Client) Request(ctx context.Context) (context.Context, context.CancelFunc) {
	return c.request(ctx)
}

// RequestError is err, named ErrConnectionLost or ErrTimeout when that is
// why the request under ctx (from Request) failed.
func (c *Client) RequestError(ctx context.Context, err error) error { return c.failure(ctx, err) }

// NotSent is the error of a send to to that failed before its message was
// written: err as RequestError makes it, and a *NotSentError with it when
// the connection was lost, so that the caller knows that sending again is
// safe. Send and package muc's group sends end so.
func (c *Client) NotSent(ctx context.Context, to jid.JID, err error) error {
	err = c.failure(ctx, err)
	if errors.Is(err, ErrConnectionLost) {
		return fmt.Errorf("%w: %w", &NotSentError{To: to}, err)
	}
	return err
}

// Publish announces the account's key fpr (XEP-0373 §4.1, §4.2): its
// minimal public key to the data node first, then the metadata node, read,
// merged and written so that no other device's entry is lost.
func (c *Client) Publish(ctx context.Context, fpr pgp.Fingerprint) (*PublishReport, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	rep, err := c.publish(ctx, fpr)
	return rep, c.failure(ctx, err)
}

// Unpublish removes the account's key fpr from the metadata node (keeping
// every other device's entry) and deletes its data node.
func (c *Client) Unpublish(ctx context.Context, fpr pgp.Fingerprint) error {
	if c.Session == nil {
		return ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	return c.failure(ctx, c.unpublish(ctx, fpr))
}

// Fetch reads j's metadata node and every key it announces that is not
// stored yet or has changed (XEP-0373 §4.3, §4.4). Only a key whose
// fingerprint matches its node and that carries the user ID "xmpp:<j>" is
// imported.
func (c *Client) Fetch(ctx context.Context, j jid.JID) (*FetchReport, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	rep, err := c.fetch0(ctx, j, false)
	return rep, c.failure(ctx, err)
}

// BackupPush encrypts the account's secret key fpr with a new backup code
// and publishes it (XEP-0373 §5); see backup.go.
func (c *Client) BackupPush(ctx context.Context, fpr pgp.Fingerprint, replace bool) (backup.Code, error) {
	if c.Session == nil {
		return "", ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	code, err := c.backupPush(ctx, fpr, replace)
	return code, c.failure(ctx, err)
}

// BackupRestore fetches the account's backup and opens it with code (XEP-0373
// §5.5); see backup.go.
func (c *Client) BackupRestore(ctx context.Context, code backup.Code) ([]pgp.KeyInfo, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	ks, err := c.backupRestore(ctx, code)
	return ks, c.failure(ctx, err)
}

// connBroken reports whether err is the connection itself failing (reset,
// closed, cut), not an answer of the server.
func connBroken(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// CutError: the connection ended in the middle of the stream, without
// the server closing it (</stream:stream>): the network or a proxy cut
// it, or the server died. Err is what the reader met (an XML decoder's
// "unexpected EOF", a reset).
type CutError struct{ Err error }

func (e *CutError) Error() string {
	return "the connection was cut in the middle of the stream (by the network, or the server went away)"
}

func (e *CutError) Unwrap() error { return e.Err }

// streamCut names a stream's end without its closing tag as a CutError
// (the XML decoder reports it as a syntax error, "unexpected EOF").
func streamCut(err error) error {
	var se *xml.SyntaxError
	if (errors.As(err, &se) && se.Msg == "unexpected EOF") || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return &CutError{Err: err}
	}
	return err
}

// Unreached reports whether a failed login never reached the server (no
// TCP connection: it is down, restarting, or not there). Such a failure
// says nothing of a lost session the next login may resume.
func Unreached(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Transient reports whether a failed login or a lost connection is worth
// trying again by itself: the network failing, the server going away,
// restarting or not answering. A refused login, a certificate that does not
// verify or a server without TLS is not: the user has to act, and trying
// again would only repeat it (or lock the account). Nor is an error whose
// Permanent method says so (a room's ban, muc.JoinError).
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *AuthError
	if errors.As(err, &ae) || errors.Is(err, ErrNoStartTLS) || errors.Is(err, errStartTLSFailure) {
		return false
	}
	// An error that says so itself (a room's ban: muc.JoinError).
	var p interface{ Permanent() bool }
	if errors.As(err, &p) && p.Permanent() {
		return false
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return false
	}
	return true
}

// Backoff is how long to wait before attempt n (0, 1, ...) of reconnecting:
// min doubled with each attempt, at most max, then jittered down by up to a
// half with rnd (a number in [0, 1)), so that many clients cut at once do
// not all come back at the same instant.
func Backoff(n int, min, max time.Duration, rnd float64) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d - time.Duration(float64(d)/2*rnd)
}
