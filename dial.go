package ox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Account says how to log in to an XMPP account.
type Account struct {
	// JID is the account's address; a resourcepart, if any, is asked for
	// when binding (the server may pick another).
	JID      jid.JID
	Password string
	// Server overrides where to connect ("host:port"); empty means the
	// usual DNS SRV lookup of the JID's domain, then the domain itself.
	Server string
	// DirectTLS connects with TLS from the first byte (XEP-0368) instead
	// of STARTTLS.
	DirectTLS bool
	// TLS configures certificate checks; nil means the system's roots and
	// the JID's domain as server name. Set RootCAs for a private server.
	TLS *tls.Config
	// SASL forces one SASL mechanism (one of Mechanisms) for a server
	// whose negotiation is broken; empty lets Dial choose. A forced
	// mechanism is used even without a channel-binding announcement, and
	// PLAIN only when forced (always inside verified TLS).
	SASL string
	// Resumable asks the server to keep the session for a while when the
	// connection is lost, so that ResumptionOf and Resume can take it
	// over (XEP-0198 §5). A session that ends by CloseSession is not kept.
	Resumable bool
	// Resume is a lost session's Resumption: after authenticating, Dial
	// asks the server to resume it instead of binding a new one, and
	// falls back to an ordinary login (bind) when the server refuses.
	// Negotiated.Resumed says which happened.
	Resume *Resumption
	// SaveResumption, when set on a resumable session, is given the
	// session's Resumption (MarshalText) whenever what a process needs to
	// resume it after a crash changes: once it is resumable, and before
	// each acknowledgement ox sends. It runs on the session's reader: keep
	// it short (a small file write). A program that keeps it, and knows
	// the process that made it is gone, resumes the session with it
	// (ParseResumption, Resume): what the server held for the dead process
	// comes to the new one.
	SaveResumption func(*Resumption)
}

// Mechanisms are the SASL mechanisms Dial knows, in the order it prefers
// them when the server offers several.
var Mechanisms = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}

// ParseMechanism checks a mechanism name given for Account.SASL and
// returns it as Mechanisms spells it; an unknown one is an *AuthError of
// kind AuthMechanism.
func ParseMechanism(name string) (string, error) {
	m := strings.ToUpper(strings.TrimSpace(name))
	if _, ok := mechanisms[m]; !ok {
		return "", &AuthError{Kind: AuthMechanism, Mechanism: name,
			err: fmt.Errorf("is unknown to ox (it knows %s)", strings.Join(Mechanisms, ", "))}
	}
	return m, nil
}

var mechanisms = map[string]sasl.Mechanism{
	"SCRAM-SHA-256-PLUS": sasl.ScramSha256Plus,
	"SCRAM-SHA-1-PLUS":   sasl.ScramSha1Plus,
	"SCRAM-SHA-256":      sasl.ScramSha256,
	"SCRAM-SHA-1":        sasl.ScramSha1,
	"PLAIN":              sasl.Plain,
}

// AuthKind says why a login was refused.
type AuthKind int

const (
	// AuthRefused: the server refused the credentials (wrong password,
	// unknown or disabled account; "not-authorized" and kin, RFC 6120 §6.5).
	AuthRefused AuthKind = iota
	// AuthChannelBinding: the server refused the channel binding of a
	// -PLUS mechanism (RFC 5802 §6), not the password.
	AuthChannelBinding
	// AuthMechanism: the server and ox share no usable mechanism, or the
	// forced one (Account.SASL) is unknown or not offered.
	AuthMechanism
	// AuthServer: the server broke the exchange: a temporary failure, a
	// malformed message, or a SCRAM proof that does not match (a server
	// that does not know the password, or someone in between).
	AuthServer
)

func (k AuthKind) String() string {
	switch k {
	case AuthRefused:
		return "refused"
	case AuthChannelBinding:
		return "channel binding"
	case AuthMechanism:
		return "mechanism"
	case AuthServer:
		return "server"
	}
	return fmt.Sprintf("AuthKind(%d)", int(k))
}

// AuthError is a failed SASL authentication (RFC 6120 §6), for example a
// wrong password or an unknown account (Kind AuthRefused, Condition
// "not-authorized").
type AuthError struct {
	Kind      AuthKind
	Mechanism string   // the mechanism tried; empty when none could be
	Offered   []string // the mechanisms the server offered
	Condition string   // the server's defined condition, e.g. "not-authorized"
	Text      string   // the server's optional text
	err       error
}

func (e *AuthError) Error() string {
	var s string
	switch e.Kind {
	case AuthMechanism:
		s = "no usable login mechanism"
		if e.Mechanism != "" {
			s = "login mechanism " + e.Mechanism
		}
		if e.err != nil {
			s += " " + e.err.Error()
		}
		if e.Offered != nil {
			s += " (the server offers " + strings.Join(e.Offered, ", ") + ")"
		}
		return s
	case AuthChannelBinding:
		s = "the server refused the channel binding of " + e.Mechanism
	case AuthServer:
		s = "the server broke the login with " + e.Mechanism
	default:
		s = "the server refused the login"
	}
	if e.Condition != "" {
		s += " (" + e.Condition + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	} else if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *AuthError) Unwrap() error { return e.err }

// The sentinel errors below come wrapped in Dial's "ox: log in as ..."
// error, which names the account and the server.

// ErrNoStartTLS is the server not offering STARTTLS: ox does not log in
// without TLS (RFC 6120 §5.1), so the password never crosses in clear.
var ErrNoStartTLS = errors.New("the server does not offer STARTTLS (TLS is required)")

// ErrServerClosed is the server ending the connection during the login.
var ErrServerClosed = errors.New("the server closed the connection")

// TLSError is TLS failing: the server refusing STARTTLS, a certificate
// that does not verify, or a failed handshake.
type TLSError struct {
	Server string // where ox connected
	err    error
}

func (e *TLSError) Error() string { return "TLS with " + e.Server + " failed: " + e.err.Error() }
func (e *TLSError) Unwrap() error { return e.err }

// TimeoutError is the login not finishing before the Dial context ended.
type TimeoutError struct {
	Server string // where ox connected
	Step   string // what was under way: "connect", "tls", "auth", "bind", "stream"
	err    error  // the context's error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer from %s in time, during %s: %v", e.Server, stepNames[e.Step], e.err)
}
func (e *TimeoutError) Unwrap() error { return e.err }

// errStartTLSFailure is the server answering <starttls/> with <failure/>
// (RFC 6120 §5.4.2.2).
var errStartTLSFailure = errors.New("the server answered STARTTLS with <failure/>")

// Dial connects and logs in: TLS (STARTTLS or direct) whose certificate is
// verified, SASL, resource binding. Any failure of a step ends Dial with an
// error, and nothing but the stream header and <starttls/> is sent before
// TLS is up. ctx bounds the negotiation; the session outlives it. The
// caller closes the session.
//
// The SASL mechanism is the first of Mechanisms that the server offers,
// with two rules. A -PLUS mechanism (channel binding, RFC 5802 §6) is used
// only when the server announces the binding type that this TLS connection
// gives (XEP-0440 §3: tls-exporter on TLS 1.3, RFC 9266; tls-unique before
// it, RFC 5929): servers that offer -PLUS but accept another type than the
// one the client guesses refuse the login otherwise (ejabberd 23.01
// accepts only tls-unique, which TLS 1.3 does not have). PLAIN is used
// only when Account.SASL forces it. A failed attempt is never followed by
// another, weaker one on the same connection.
func Dial(ctx context.Context, a Account) (*xmpp.Session, error) {
	sess, _, err := DialNegotiated(ctx, a)
	return sess, err
}

// Negotiated is what Dial agreed with the server.
type Negotiated struct {
	TLSVersion     uint16   // tls.VersionTLS12 or tls.VersionTLS13
	Mechanism      string   // the SASL mechanism used
	ChannelBinding string   // the binding type of a -PLUS mechanism, else ""
	Offered        []string // the SASL mechanisms the server offered
	Announced      []string // the channel-binding types it announced (XEP-0440)
	// StreamManagement: the server manages the stream (XEP-0198): it keeps
	// what it sent until ox acknowledges it.
	StreamManagement bool
	// Resumed: the session is Account.Resume's, taken over (XEP-0198 §5):
	// what either side had not received was sent again, and the session's
	// presence, subscriptions and carbons are as they were.
	Resumed bool
	// Settled: Account.Resume's session could not be taken over, but the
	// server said how many of its stanzas it had handled (<failed h/>,
	// §5; Prosody after a restart or a timeout): the messages after
	// those, Resent of them, were sent again on the new session, and
	// Client.Confirm settles a send the lost connection took.
	Settled bool
	Resent  int
}

// DialNegotiated is Dial that also says what was negotiated, for a user
// (or a test) who wants to know how the login went.
func DialNegotiated(ctx context.Context, a Account) (*xmpp.Session, Negotiated, error) {
	sess, n, err := dialSession(ctx, a)
	if err != nil {
		return nil, Negotiated{}, err
	}
	info := Negotiated{TLSVersion: sess.ConnectionState().Version, Mechanism: n.mechanism, Offered: n.offered, Announced: n.cbTypes,
		StreamManagement: n.smEnabled, Resumed: n.resumed, Settled: n.settled, Resent: n.resent}
	if strings.HasSuffix(n.mechanism, "-PLUS") {
		info.ChannelBinding = binding(sess.ConnectionState())
	}
	return sess, info, nil
}

func dialSession(ctx context.Context, a Account) (*xmpp.Session, *negotiation, error) {
	if a.JID.Localpart() == "" {
		return nil, nil, fmt.Errorf("ox: %q is not an account JID", a.JID)
	}
	if a.SASL != "" {
		m, err := ParseMechanism(a.SASL)
		if err != nil {
			return nil, nil, fmt.Errorf("ox: %w", err)
		}
		a.SASL = m
	}
	cfg := a.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = a.JID.Domainpart()
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	where := a.Server
	if where == "" {
		where = a.JID.Domainpart()
	}
	n := &negotiation{server: where, step: "connect", forced: a.SASL, password: a.Password}
	conn, err := n.connect(ctx, a, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("ox: connect to %s: %w", where, n.classify(ctx, err))
	}
	// Closing the connection when ctx ends bounds the negotiation for sure:
	// a read blocked on a silent server then fails.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	n.step = "stream"
	sess, err := xmpp.NewClientSession(ctx, a.JID, conn, n.features(a, cfg)...)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended just as negotiation finished: conn is closed
	}
	if err == nil {
		err = n.err // a failure mellium let pass
	}
	if err == nil {
		err = n.check(sess)
	}
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ox: log in as %s via %s: %w", a.JID.Bare(), where, n.classify(ctx, err))
	}
	return sess, n, nil
}

// negotiation follows one Dial's stream negotiation. mellium's negotiator
// drops the error of a feature the server did not mark required (a failed
// optional STARTTLS ended in a session "ready" in clear text), so every
// feature records its failure here and Dial checks it, and the state the
// session reached, itself.
type negotiation struct {
	server   string
	forced   string
	password string

	step      string // "connect", "stream", "tls", "auth", "bind"
	err       error  // the first failure of a feature
	startTLS  bool   // the server offered STARTTLS
	cbTypes   []string
	mechanism string
	offered   []string
	bound     bool
	smOffered bool // the server offers stream management (XEP-0198)
	smEnabled bool // and enabled it
	resumed   bool // the session is a resumed one
	// refused: Account.Resume, which the server refused to resume, with
	// the count of its stanzas the server handled (<failed h/>); settled
	// when the new session took that over (resendUnhandled), resent
	// messages sent again.
	refused   *Resumption
	refusedAt uint32
	settled   bool
	resent    int
	watch     watchedConn // the TCP connection, watched for the server closing it
}

func (n *negotiation) connect(ctx context.Context, a Account, cfg *tls.Config) (net.Conn, error) {
	if a.Server == "" {
		d := dial.Dialer{NoTLS: !a.DirectTLS, TLSConfig: cfg}
		c, err := d.Dial(ctx, "tcp", a.JID.Domain())
		if err != nil {
			return nil, err
		}
		if _, ok := c.(*tls.Conn); ok {
			return c, nil // mellium marks a *tls.Conn secure; it cannot be wrapped
		}
		n.watch.Conn = c
		return &n.watch, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.Server)
	if err != nil {
		return nil, err
	}
	n.watch.Conn = c
	if !a.DirectTLS {
		return &n.watch, nil
	}
	n.step = "tls"
	tc := tls.Client(&n.watch, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// watchedConn notes whether the server closed the connection, so that an
// XML decoder's "unexpected EOF" is told as what it is. A reset counts: a
// server that closes while our bytes are still unread in its buffer makes
// its kernel answer with RST instead of FIN.
type watchedConn struct {
	net.Conn
	mu  sync.Mutex
	eof bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchedConn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eof
}

var stepNames = map[string]string{
	"connect": "the TCP connection", "stream": "stream negotiation", "tls": "TLS",
	"auth": "authentication", "bind": "resource binding", "stream management": "stream management",
}

// classify turns a negotiation failure into the error that names its cause.
func (n *negotiation) classify(ctx context.Context, err error) error {
	if n.err != nil {
		err = n.err
	}
	step := stepNames[n.step]
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return &TimeoutError{Server: n.server, Step: n.step, err: cerr}
		}
		return fmt.Errorf("during %s: %w", step, cerr)
	}
	var ae *AuthError
	var te *TLSError
	switch {
	case errors.As(err, &ae), errors.As(err, &te), errors.Is(err, ErrNoStartTLS):
		return err
	}
	if n.step == "tls" || isTLSError(err) {
		if n.watch.ended() {
			err = ErrServerClosed
		}
		return &TLSError{Server: n.server, err: err}
	}
	if n.watch.ended() {
		return fmt.Errorf("%w during %s", ErrServerClosed, step)
	}
	return fmt.Errorf("during %s: %w", step, err)
}

func isTLSError(err error) bool {
	var (
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
		header tls.RecordHeaderError
		unk    x509.UnknownAuthorityError
		host   x509.HostnameError
		inv    x509.CertificateInvalidError
	)
	return errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &header) ||
		errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &inv)
}

// check refuses a session that mellium calls ready but that is not
// secured, authenticated and bound: no stanza may go out on it.
func (n *negotiation) check(sess *xmpp.Session) error {
	st := sess.State()
	switch {
	case st&xmpp.Secure == 0:
		n.step = "tls"
		return errors.New("the stream was never secured with TLS")
	case st&xmpp.Authn == 0:
		n.step = "auth"
		return errors.New("the server ended negotiation without authentication")
	case !n.bound:
		n.step = "bind"
		return errors.New("the server ended negotiation without binding a resource")
	}
	return nil
}

func (n *negotiation) fail(err error) error {
	if n.err == nil {
		n.err = err
	}
	return err
}

func (n *negotiation) features(a Account, cfg *tls.Config) []xmpp.StreamFeature {
	bind := bindResource(a.JID.Resourcepart())
	inner := bind.Negotiate
	bind.Negotiate = func(ctx context.Context, s *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		// A lost session of this account is taken over rather than a new
		// one bound (XEP-0198 §5: <resume/> comes where binding would).
		if r := a.Resume; r != nil && n.smOffered && sessionSM(s) != nil && r.addr.Bare().Equal(a.JID.Bare()) {
			n.step = "stream management"
			ok, err := n.resumeSM(s, r, a.SaveResumption)
			if err != nil {
				return 0, nil, n.fail(err)
			}
			if ok {
				s.UpdateAddr(r.addr)
				n.bound, n.resumed, n.smEnabled = true, true, true
				return xmpp.Ready, nil, nil
			}
		}
		n.step = "bind"
		mask, rw, err := inner(ctx, s, data)
		if err != nil {
			return mask, rw, n.fail(err)
		}
		n.bound = mask&xmpp.Ready != 0
		if n.bound && n.smOffered && sessionSM(s) != nil {
			n.step = "stream management"
			if err := n.enableSM(s, a.Resumable, a.SaveResumption); err != nil {
				return mask, rw, n.fail(err)
			}
			if err := n.resendUnhandled(s); err != nil {
				return mask, rw, n.fail(err)
			}
		}
		return mask, rw, nil
	}
	fs := []xmpp.StreamFeature{n.channelBinding(), n.sasl(), bind, n.smFeature()}
	if !a.DirectTLS {
		// STARTTLS first, so the password never crosses the wire in clear.
		fs = append([]xmpp.StreamFeature{n.startTLSFeature(cfg)}, fs...)
	}
	return fs
}

// startTLSFeature is STARTTLS (RFC 6120 §5) with mellium's parsing and
// its own negotiation: a server that does not offer it gets ErrNoStartTLS
// before anything is sent (mellium sends <starttls/> anyway, then reports
// the server's close as an XML syntax error), and a <failure/> (§5.4.2.2)
// is an error even when the server did not mark STARTTLS required.
func (n *negotiation) startTLSFeature(cfg *tls.Config) xmpp.StreamFeature {
	f := xmpp.StartTLS(cfg)
	parse := f.Parse
	f.Parse = func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
		n.startTLS = true
		_, data, err := parse(ctx, d, start)
		// Required or not for the server, TLS is required for ox.
		return true, data, err
	}
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		n.step = "tls"
		if !n.startTLS {
			return 0, nil, n.fail(ErrNoStartTLS)
		}
		conn := s.Conn()
		if _, err := io.WriteString(conn, "<starttls xmlns='"+nsTLS+"'/>"); err != nil {
			return 0, nil, n.fail(err)
		}
		r := s.TokenReader()
		defer r.Close()
		start, err := nextStart(xml.NewTokenDecoder(r))
		switch {
		case err != nil:
			return 0, nil, n.fail(err)
		case start.Name.Space == nsTLS && start.Name.Local == "proceed":
			n.cbTypes = nil // what came before TLS is not to be trusted
			return xmpp.Secure, tls.Client(conn, cfg), nil
		case start.Name.Space == nsTLS && start.Name.Local == "failure":
			return 0, nil, n.fail(&TLSError{Server: n.server, err: errStartTLSFailure})
		}
		return 0, nil, n.fail(&TLSError{Server: n.server, err: fmt.Errorf("the server answered STARTTLS with <%s xmlns='%s'>", start.Name.Local, start.Name.Space)})
	}
	return f
}

const (
	nsTLS    = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL   = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsSASLCB = "urn:xmpp:sasl-cb:0"
)

// nextStart reads up to the next start element, skipping whitespace.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("unexpected end of <%s>", t.Name.Local)
		default:
			continue
		}
		return xml.StartElement{}, fmt.Errorf("unexpected %T in negotiation", tok)
	}
}

// channelBinding reads the XEP-0440 announcement of the channel-binding
// types the server supports; it negotiates nothing itself.
func (n *negotiation) channelBinding() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASLCB, Local: "sasl-channel-binding"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			var p struct {
				Types []struct {
					Type string `xml:"type,attr"`
				} `xml:"urn:xmpp:sasl-cb:0 channel-binding"`
			}
			err := d.DecodeElement(&p, start)
			for _, t := range p.Types {
				n.cbTypes = append(n.cbTypes, t.Type)
			}
			return false, nil, err
		},
	}
}

// binding is the channel-binding type mellium's SCRAM -PLUS uses on this
// connection: tls-exporter on TLS 1.3 (RFC 9266), tls-unique before
// (RFC 5929); "" when there is none.
func binding(cs tls.ConnectionState) string {
	switch {
	case cs.Version >= tls.VersionTLS13:
		return "tls-exporter"
	case cs.Version != 0 && len(cs.TLSUnique) > 0:
		return "tls-unique"
	}
	return ""
}

// chooseMechanism picks the SASL mechanism (see Dial): forced if set, else
// the first of Mechanisms the server offers, -PLUS only if announced
// (the server's channel-binding types) holds bindingType, never PLAIN.
func chooseMechanism(offered, announced []string, bindingType, forced string) (string, error) {
	if forced != "" {
		switch {
		case !slices.Contains(offered, forced):
			return "", &AuthError{Kind: AuthMechanism, Mechanism: forced, Offered: offered, err: errors.New("is not offered")}
		case strings.HasSuffix(forced, "-PLUS") && bindingType == "":
			return "", &AuthError{Kind: AuthMechanism, Mechanism: forced, Offered: offered, err: errors.New("needs channel binding, which this TLS connection does not give")}
		}
		return forced, nil
	}
	cb := bindingType != "" && slices.Contains(announced, bindingType)
	for _, m := range Mechanisms {
		if m == "PLAIN" || (strings.HasSuffix(m, "-PLUS") && !cb) {
			continue
		}
		if slices.Contains(offered, m) {
			return m, nil
		}
	}
	return "", &AuthError{Kind: AuthMechanism, Offered: offered}
}

// sasl is SASL authentication (RFC 6120 §6) with mellium's parsing of the
// offered mechanisms, mellium.im/sasl for the mechanisms themselves, and
// its own exchange, so that the mechanism follows chooseMechanism and a
// <failure/> is read with its condition and text (mellium returns it as a
// value of its internal package saslerr, which no other module can name).
func (n *negotiation) sasl() xmpp.StreamFeature {
	f := xmpp.SASL("", n.password, sasl.ScramSha256)
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		n.step = "auth"
		if err := n.authenticate(s, data); err != nil {
			return 0, nil, n.fail(err)
		}
		n.step = "stream"
		// The restarted stream runs on a connection that counts stanzas,
		// for stream management (sm.go).
		return xmpp.Authn, newSMConn(s.Conn()), nil
	}
	return f
}

func (n *negotiation) authenticate(s *xmpp.Session, data interface{}) error {
	n.offered, _ = data.([]string)
	cs := s.ConnectionState()
	if cs.Version == 0 {
		return errors.New("refusing to authenticate without TLS")
	}
	name, err := chooseMechanism(n.offered, n.cbTypes, binding(cs), n.forced)
	if err != nil {
		return err
	}
	n.mechanism = name
	fail := func(kind AuthKind, err error) error {
		return &AuthError{Kind: kind, Mechanism: name, Offered: n.offered, err: err}
	}
	client := sasl.NewClient(mechanisms[name],
		sasl.Credentials(func() ([]byte, []byte, []byte) {
			return []byte(s.LocalAddr().Localpart()), []byte(n.password), nil
		}),
		sasl.RemoteMechanisms(n.offered...),
		sasl.TLSState(cs),
	)
	more, resp, err := client.Step(nil)
	if err != nil {
		return fail(AuthMechanism, err)
	}
	w := s.TokenWriter()
	defer w.Close()
	r := s.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	if err := sendSASL(w, xml.StartElement{Name: xml.Name{Space: nsSASL, Local: "auth"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "mechanism"}, Value: name}}}, resp); err != nil {
		return err
	}
	for {
		start, err := nextStart(d)
		if err != nil {
			return err
		}
		if start.Name.Space != nsSASL {
			return fmt.Errorf("unexpected <%s xmlns='%s'> during authentication", start.Name.Local, start.Name.Space)
		}
		switch start.Name.Local {
		case "challenge", "success":
			var p struct {
				Data string `xml:",chardata"`
			}
			if err := d.DecodeElement(&p, &start); err != nil {
				return err
			}
			payload, err := decodeSASL(p.Data)
			if err != nil {
				return fail(AuthServer, err)
			}
			success := start.Name.Local == "success"
			if success && len(payload) == 0 {
				if more {
					// RFC 5802 §5: the server proves it knows the password
					// too; a success without that proof may be anyone.
					return fail(AuthServer, errors.New("the server did not prove that it knows the password"))
				}
				return nil
			}
			if !more {
				return fail(AuthServer, fmt.Errorf("unexpected %s data after the exchange ended", start.Name.Local))
			}
			more, resp, err = client.Step(payload)
			if err != nil {
				return fail(AuthServer, fmt.Errorf("the server's answer does not check out: %w", err))
			}
			if success {
				if more {
					return fail(AuthServer, errors.New("the server did not prove that it knows the password"))
				}
				return nil
			}
			if err := sendSASL(w, xml.StartElement{Name: xml.Name{Space: nsSASL, Local: "response"}}, resp); err != nil {
				return err
			}
		case "failure":
			var f struct {
				Conds []struct {
					XMLName xml.Name
				} `xml:",any"`
				Text string `xml:"text"`
			}
			if err := d.DecodeElement(&f, &start); err != nil {
				return err
			}
			e := &AuthError{Kind: AuthRefused, Mechanism: name, Offered: n.offered, Text: f.Text}
			for _, c := range f.Conds {
				if c.XMLName.Local != "text" {
					e.Condition = c.XMLName.Local
					break
				}
			}
			e.Kind = failureKind(name, e.Condition, e.Text)
			return e
		default:
			return fmt.Errorf("unexpected <%s> during authentication", start.Name.Local)
		}
	}
}

// failureKind sorts a SASL <failure/> (RFC 6120 §6.5). A refused channel
// binding has no condition of its own: servers send not-authorized (or
// malformed-request) and say so only in the text, as ejabberd does
// ("Invalid channel binding"), so for a -PLUS mechanism the text decides.
func failureKind(mechanism, condition, text string) AuthKind {
	switch condition {
	case "invalid-mechanism", "mechanism-too-weak", "encryption-required":
		return AuthMechanism
	case "aborted", "incorrect-encoding", "malformed-request", "temporary-auth-failure":
		if !strings.HasSuffix(mechanism, "-PLUS") || !mentionsBinding(text) {
			return AuthServer
		}
	}
	if strings.HasSuffix(mechanism, "-PLUS") && mentionsBinding(text) {
		return AuthChannelBinding
	}
	return AuthRefused
}

func mentionsBinding(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "channel binding") || strings.Contains(t, "channel-binding") || strings.Contains(t, "channel_binding")
}

func sendSASL(w xmlstream.TokenWriteFlushCloser, start xml.StartElement, payload []byte) error {
	// RFC 6120 §6.4.2: an empty response is sent as "=".
	data := "="
	if len(payload) > 0 {
		data = base64.StdEncoding.EncodeToString(payload)
	}
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(xmlstream.Token(xml.CharData(data)), start)); err != nil {
		return err
	}
	return w.Flush()
}

func decodeSASL(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "=" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the server sent bad base64: %w", err)
	}
	return b, nil
}

// bindResource is xmpp.BindResource, but it really asks for resource:
// mellium v0.22.0 always sends an empty <resource/> (its bind payload writes
// the empty JID there), so the server picks a random one. With no resource
// it leaves binding to mellium.
func bindResource(resource string) xmpp.StreamFeature {
	f := xmpp.BindResource()
	if resource == "" {
		return f
	}
	f.Negotiate = func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		w := session.TokenWriter()
		defer w.Close()
		r := session.TokenReader()
		defer r.Close()

		id := make([]byte, 8)
		rand.Read(id)
		reqID := "bind-" + hex.EncodeToString(id)
		req := stanza.IQ{XMLName: xml.Name{Space: stanza.NSClient, Local: "iq"}, ID: reqID, Type: stanza.SetIQ}.Wrap(
			xmlstream.Wrap(
				xmlstream.Wrap(xmlstream.Token(xml.CharData(resource)), xml.StartElement{Name: xml.Name{Local: "resource"}}),
				xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}},
			))
		if _, err := xmlstream.Copy(w, req); err != nil {
			return 0, nil, err
		}
		if err := w.Flush(); err != nil {
			return 0, nil, err
		}
		d := xml.NewTokenDecoder(r)
		tok, err := d.Token()
		if err != nil {
			return 0, nil, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "iq" {
			return 0, nil, fmt.Errorf("xmpp: bind: expected an IQ, got %T %v", tok, tok)
		}
		var resp struct {
			stanza.IQ
			JID string        `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
			Err *stanza.Error `xml:"error"`
		}
		if err := d.DecodeElement(&resp, &start); err != nil {
			return 0, nil, err
		}
		switch {
		case resp.ID != reqID:
			return 0, nil, fmt.Errorf("xmpp: bind: response id %q, want %q", resp.ID, reqID)
		case resp.Type == stanza.ErrorIQ && resp.Err != nil:
			return 0, nil, fmt.Errorf("xmpp: bind %q: %w", resource, resp.Err)
		case resp.Type != stanza.ResultIQ:
			return 0, nil, fmt.Errorf("xmpp: bind %q: IQ of type %q", resource, resp.Type)
		}
		bound, err := jid.Parse(resp.JID)
		if err != nil {
			return 0, nil, fmt.Errorf("xmpp: bind: server sent JID %q: %w", resp.JID, err)
		}
		session.UpdateAddr(bound)
		return xmpp.Ready, nil, nil
	}
	return f
}

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// CloseSession ends the XML stream and closes the connection under it:
// mellium's Session.Close alone leaves the TCP connection open (and a
// server then waits for it).
func CloseSession(sess *xmpp.Session) error {
	if sm := sessionSM(sess); sm != nil {
		// XEP-0198 §4: acknowledge what was received before closing, so
		// that the server neither resends nor stores it again.
		w := sess.TokenWriter()
		if writeAck(w, sm) == nil {
			w.Flush()
		}
		w.Close()
	}
	err := sess.Close()
	if cerr := sess.Conn().Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}
