package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/ejabberd"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/internal/testcert"
)

// The server names, as subtests are named.
const (
	Prosody  = "prosody"
	Ejabberd = "ejabberd"
)

// Names are the servers ForEachServer runs on, in order.
var Names = []string{Prosody, Ejabberd}

// Options say what a test needs of a server.
type Options struct {
	// Accounts maps local parts to passwords.
	Accounts map[string]string
	// Debug logs every stanza to Server.LogFile.
	Debug bool
	// Upload adds an HTTP File Upload service (XEP-0363) over HTTPS on
	// loopback: Prosody's mod_http_file_share, ejabberd's mod_http_upload;
	// UploadMax is its limit (0: 16 MiB).
	Upload    bool
	UploadMax int64
}

// Users is Options with an account "NAME" with password "NAME-pass" for
// each name, the convention of the integration tests.
func Users(names ...string) Options {
	accounts := make(map[string]string, len(names))
	for _, n := range names {
		accounts[n] = n + "-pass"
	}
	return Options{Accounts: accounts}
}

// Server is a running test server, Prosody or ejabberd. Its fields are
// read-only.
type Server struct {
	Name      string // Prosody or Ejabberd
	Domain    string // e.g. "localhost"
	MUCDomain string // e.g. "conference.localhost"
	Addr      string // 127.0.0.1:port, c2s with STARTTLS
	TLSAddr   string // 127.0.0.1:port, c2s with direct TLS
	CAFile    string // the throw-away CA
	LogFile   string // the server's log

	impl impl
}

// impl is what differs between the servers.
type impl interface {
	Register(ctx context.Context, local, password string) error
	TLSConfig() *tls.Config
	Stop() error
	Restart(ctx context.Context) error
	PID() int
}

// Is reports whether this is the server named name.
func (s *Server) Is(name string) bool { return s.Name == name }

// Register creates local@Domain with password (or sets its password).
func (s *Server) Register(ctx context.Context, local, password string) error {
	return s.impl.Register(ctx, local, password)
}

// TLSConfig trusts only the throw-away CA and expects Domain's certificate.
func (s *Server) TLSConfig() *tls.Config { return s.impl.TLSConfig() }

// Restart stops the server and starts it again on the same ports with the
// same data.
func (s *Server) Restart(ctx context.Context) error { return s.impl.Restart(ctx) }

// Stop ends the server process (safe to call more than once).
func (s *Server) Stop() error { return s.impl.Stop() }

// PID is the server's process ID.
func (s *Server) PID() int { return s.impl.PID() }

// JID returns local@Domain.
func (s *Server) JID(local string) string { return local + "@" + s.Domain }

// JIDParse is JID(local), parsed.
func (s *Server) JIDParse(t testing.TB, local string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s.JID(local))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// Account is how ox reaches local@Domain on this server: STARTTLS on Addr
// (or direct TLS on TLSAddr), verified against the throw-away CA.
func (s *Server) Account(local, password, resource string, directTLS bool) (ox.Account, error) {
	origin, err := jid.New(local, s.Domain, resource)
	if err != nil {
		return ox.Account{}, fmt.Errorf("testenv: %w", err)
	}
	a := ox.Account{JID: origin, Password: password, Server: s.Addr, TLS: s.TLSConfig(), DirectTLS: directTLS}
	if directTLS {
		a.Server = s.TLSAddr
	}
	return a, nil
}

// Dial logs local@Domain in with ox.Dial over STARTTLS on Addr (resource
// may be empty to let the server pick one).
func (s *Server) Dial(ctx context.Context, local, password, resource string) (*xmpp.Session, error) {
	return s.dial(ctx, false, local, password, resource)
}

// DialDirectTLS is Dial over direct TLS (XEP-0368) on TLSAddr.
func (s *Server) DialDirectTLS(ctx context.Context, local, password, resource string) (*xmpp.Session, error) {
	return s.dial(ctx, true, local, password, resource)
}

func (s *Server) dial(ctx context.Context, direct bool, local, password, resource string) (*xmpp.Session, error) {
	a, err := s.Account(local, password, resource, direct)
	if err != nil {
		return nil, err
	}
	sess, err := ox.Dial(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: %w", s.Name, err)
	}
	return sess, nil
}

// CloseSession ends the XML stream and closes the connection under it.
func CloseSession(sess *xmpp.Session) error { return ox.CloseSession(sess) }

// StartT starts the server named name for t (skipping or failing as
// StartT of its harness does when it is not installed) and stops it in
// t.Cleanup.
func StartT(t testing.TB, name string, opts Options) *Server {
	t.Helper()
	switch name {
	case Prosody:
		return fromProsody(prosody.StartT(t, prosody.Options{Accounts: opts.Accounts, Debug: opts.Debug, HTTPFileShare: opts.Upload, UploadMax: opts.UploadMax}))
	case Ejabberd:
		return fromEjabberd(ejabberd.StartT(t, ejabberd.Options{Accounts: opts.Accounts, Debug: opts.Debug, HTTPUpload: opts.Upload, UploadMax: opts.UploadMax}))
	}
	t.Fatalf("testenv: no server %q", name)
	return nil
}

// Start starts the server named name in dir (which the caller owns and
// removes), for setups that have no testing.TB, such as a testscript's
// Setup. The caller stops it.
func Start(ctx context.Context, name, dir string, opts Options) (*Server, error) {
	switch name {
	case Prosody:
		p, err := prosody.Start(ctx, dir, prosody.Options{Accounts: opts.Accounts, Debug: opts.Debug, HTTPFileShare: opts.Upload, UploadMax: opts.UploadMax})
		if err != nil {
			return nil, err
		}
		return fromProsody(p), nil
	case Ejabberd:
		e, err := ejabberd.Start(ctx, dir, ejabberd.Options{Accounts: opts.Accounts, Debug: opts.Debug, HTTPUpload: opts.Upload, UploadMax: opts.UploadMax})
		if err != nil {
			return nil, err
		}
		return fromEjabberd(e), nil
	}
	return nil, fmt.Errorf("testenv: no server %q", name)
}

// Available reports whether the server named name is installed, and if
// not, how to install it.
func Available(name string) error {
	switch name {
	case Prosody:
		return prosody.Available()
	case Ejabberd:
		return ejabberd.Available()
	}
	return fmt.Errorf("testenv: no server %q", name)
}

// Require skips t when the server named name is not installed, or fails it
// where integration tests are required (CI, OX_REQUIRE_INTEGRATION=1).
func Require(t testing.TB, name string) {
	t.Helper()
	if err := Available(name); err != nil {
		if testcert.Required() {
			t.Fatalf("%v; integration tests are required here (CI or OX_REQUIRE_INTEGRATION=1)", err)
		}
		t.Skipf("skipping: %v (set OX_REQUIRE_INTEGRATION=1 to fail instead)", err)
	}
}

func fromProsody(p *prosody.Server) *Server {
	return &Server{Name: Prosody, Domain: p.Domain, MUCDomain: p.MUCDomain, Addr: p.Addr, TLSAddr: p.TLSAddr,
		CAFile: p.CAFile, LogFile: p.LogFile, impl: p}
}

func fromEjabberd(e *ejabberd.Server) *Server {
	return &Server{Name: Ejabberd, Domain: e.Domain, MUCDomain: e.MUCDomain, Addr: e.Addr, TLSAddr: e.TLSAddr,
		CAFile: e.CAFile, LogFile: e.LogFile, impl: e}
}

// ForEachServer runs f in a subtest per server ("prosody", "ejabberd"), each
// with a fresh server with opts' accounts.
func ForEachServer(t *testing.T, opts Options, f func(t *testing.T, srv *Server)) {
	t.Helper()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			f(t, StartT(t, name, opts))
		})
	}
}

// EachServer runs f in a subtest per server without starting one, for tests
// that start servers themselves (StartT) or several per subtest.
func EachServer(t *testing.T, f func(t *testing.T, name string)) {
	t.Helper()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) { f(t, name) })
	}
}
