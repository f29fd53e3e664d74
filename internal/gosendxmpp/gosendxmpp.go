// Package gosendxmpp drives Debian's go-sendxmpp binary as an independent
// OpenPGP for XMPP (XEP-0373) peer in tests, against a server started by
// codeberg.org/ox/ox/internal/testenv (Prosody or ejabberd).
//
// It is written for go-sendxmpp 0.5.6+git20221206 as packaged in Debian 12
// (it reports "0.5.7-dev"). Each Peer runs the binary with its own HOME and
// XDG directories in a temporary directory, so keys never mix: go-sendxmpp
// keeps its secret key in
// $HOME/.local/share/go-sendxmpp/oxprivkeys/<base64(bare JID)> (the base64 of
// the binary key) and caches the public keys it fetched in
// $HOME/.local/share/go-sendxmpp/oxpubkeys/<fingerprint>.
//
// Every run is given the server as "-j 127.0.0.1:port", which makes
// go-sendxmpp skip its DNS SRV lookups (without -j it asks the system
// resolver for _xmpp-client._tcp.<domain>); with an IP literal it resolves
// nothing at all, so no DNS isolation is needed. TLS is verified against the
// harness CA only: SSL_CERT_FILE points at it and SSL_CERT_DIR at an empty
// directory.
//
// go-sendxmpp's quirks that this package papers over:
//   - it exits 0 and sends nothing when it cannot fetch the recipient's key,
//     printing "ox: error fetching key for JID: Error while requesting public
//     openpgp keys for JID" on stdout; Send reports that as ErrNoRecipientKey,
//     and treats any output at all as a failure;
//   - it exits 0 and sends nothing when the message is empty; Send refuses an
//     empty text;
//   - its listener prints nothing when it is ready; Listen waits for the
//     listener's presence instead (see Listen);
//   - --ox-delete-nodes fails with "error parsing iq reply" when there is no
//     OX node to delete; DeleteNodes reports that as ErrNoNodes.
package gosendxmpp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/ox/ox/internal/testcert"
	"codeberg.org/ox/ox/internal/testenv"
)

// Binary is the program this package runs, looked up on PATH.
const Binary = "go-sendxmpp"

// InstallHint says how to get Binary.
const InstallHint = "apt-get install go-sendxmpp"

// DefaultTimeout bounds one go-sendxmpp run, or one wait, when the caller's
// context has no deadline.
const DefaultTimeout = 30 * time.Second

// connectTimeout is go-sendxmpp's own --timeout (seconds) at most.
const connectTimeout = 10

var (
	// ErrNoRecipientKey: go-sendxmpp could not fetch the recipient's public
	// key (none published, or not readable) and sent nothing.
	ErrNoRecipientKey = errors.New("go-sendxmpp could not fetch the recipient's key and sent nothing")

	// ErrNoNodes: --ox-delete-nodes found no OX node to delete.
	ErrNoNodes = errors.New("go-sendxmpp found no OX node to delete")
)

// Available returns nil if go-sendxmpp is on PATH, else an error that says
// how to install it.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("gosendxmpp: %s not found on PATH (%s)", Binary, InstallHint)
	}
	return nil
}

// Require skips the test when go-sendxmpp is missing, or fails it when
// integration tests are required (CI set, or OX_REQUIRE_INTEGRATION=1), as
// testenv.StartT does.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if testcert.Required() {
			t.Fatalf("%v; integration tests are required here (CI or OX_REQUIRE_INTEGRATION=1)", err)
		}
		t.Skipf("go-sendxmpp not installed: %s (set OX_REQUIRE_INTEGRATION=1 to fail instead)", InstallHint)
	}
}

// Peer is one account driven through go-sendxmpp. Its fields are read-only.
type Peer struct {
	JID      string // bare JID, local@domain
	Password string
	Home     string // HOME of every go-sendxmpp run; XDG dirs are inside

	srv   *testenv.Server
	t     testing.TB
	local string

	mu        sync.Mutex
	listeners []*Listener
}

// New returns a peer for the account local@srv.Domain, which must already be
// registered, with a fresh HOME in t.TempDir(). It calls Require. Listeners
// still running when the test ends are stopped in t.Cleanup.
func New(t testing.TB, srv *testenv.Server, local, password string) *Peer {
	t.Helper()
	Require(t)
	host, _, err := net.SplitHostPort(srv.Addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		// An IP literal keeps go-sendxmpp from resolving anything.
		t.Fatalf("gosendxmpp: server address %q is not a loopback IP and port", srv.Addr)
	}
	p := &Peer{
		JID:      srv.JID(local),
		Password: password,
		Home:     t.TempDir(),
		srv:      srv,
		t:        t,
		local:    local,
	}
	if err := os.Mkdir(p.certDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		ls := p.listeners
		p.mu.Unlock()
		for _, l := range ls {
			// Report only what the test did not see from its own Stop.
			if first, err := l.stop(); err != nil && first {
				t.Errorf("%v", err)
			}
		}
	})
	return p
}

// GenerateKey runs --ox-genprivkey-x25519: go-sendxmpp generates a key for
// the JID, stores it (replacing any key it had) and publishes the public key
// and the metadata to PEP with access model open.
func (p *Peer) GenerateKey(ctx context.Context) error {
	if err := p.runQuiet(ctx, "", "--ox-genprivkey-x25519"); err != nil {
		return err
	}
	return p.checkKeyStored()
}

// ImportKey runs --ox-import-privkey with an unprotected secret key (binary
// or armored) whose user ID must be xmpp:<JID>. go-sendxmpp stores it and
// publishes the public key unless it is already in PEP.
func (p *Peer) ImportKey(ctx context.Context, secretKeyFile string) error {
	abs, err := filepath.Abs(secretKeyFile) // go-sendxmpp runs in Home
	if err != nil {
		return err
	}
	if err := p.runQuiet(ctx, "", "--ox-import-privkey", abs); err != nil {
		return err
	}
	return p.checkKeyStored()
}

// DeleteNodes runs --ox-delete-nodes: go-sendxmpp deletes every OX node
// (urn:xmpp:openpgp:0:*) in the account's PEP. It returns an error wrapping
// ErrNoNodes when there was none.
func (p *Peer) DeleteNodes(ctx context.Context) error {
	err := p.runQuiet(ctx, "", "--ox-delete-nodes")
	var re *RunError
	if errors.As(err, &re) && strings.Contains(re.Output, "error parsing iq reply") {
		// go-sendxmpp's reaction to an empty disco#items result.
		return fmt.Errorf("%w: %w", ErrNoNodes, err)
	}
	return err
}

// KeyFile is where go-sendxmpp keeps the peer's secret key: the base64
// (standard, padded) of the binary key, in a file named after the base64
// of the bare JID.
func (p *Peer) KeyFile() string {
	return filepath.Join(p.Home, ".local", "share", "go-sendxmpp", "oxprivkeys",
		base64.StdEncoding.EncodeToString([]byte(p.JID)))
}

// PrivateKey returns the secret key go-sendxmpp stored (binary OpenPGP,
// unprotected).
func (p *Peer) PrivateKey() ([]byte, error) {
	data, err := os.ReadFile(p.KeyFile())
	if err != nil {
		return nil, fmt.Errorf("gosendxmpp: %s has no stored key: %w", p.JID, err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("gosendxmpp: %s: stored key is not base64: %w", p.KeyFile(), err)
	}
	return key, nil
}

// Send sends text to the bare JID to as an OX signcrypt message (--ox). It
// returns an error wrapping ErrNoRecipientKey when go-sendxmpp could not
// fetch to's key, and an error whenever go-sendxmpp printed anything: it
// prints nothing when it sent the message. go-sendxmpp fetches to's public
// key from PEP on every run, and needs the peer's own key (GenerateKey or
// ImportKey) first.
func (p *Peer) Send(ctx context.Context, to, text string) error {
	return p.send(ctx, text, "--ox", to)
}

// SendPlain sends text to to as an unencrypted chat message.
func (p *Peer) SendPlain(ctx context.Context, to, text string) error {
	return p.send(ctx, text, to)
}

func (p *Peer) send(ctx context.Context, text string, args ...string) error {
	if strings.Trim(text, "\r\n") == "" {
		// go-sendxmpp would exit 0 without sending anything.
		return errors.New("gosendxmpp: empty message")
	}
	err := p.runQuiet(ctx, text, args...)
	var re *RunError
	if errors.As(err, &re) && strings.Contains(re.Output, "ox: error fetching key for ") {
		return fmt.Errorf("%w: %w", ErrNoRecipientKey, err)
	}
	return err
}

// RunError is a go-sendxmpp run that failed: it exited non-zero, was
// stopped, or printed something (which it does only on failure).
type RunError struct {
	Args   []string // go-sendxmpp's arguments, password replaced
	Err    error    // from exec, nil if it exited 0
	Output string   // stdout and stderr
}

func (e *RunError) Error() string {
	status := "exit status 0"
	if e.Err != nil {
		status = e.Err.Error()
	}
	return fmt.Sprintf("gosendxmpp: %s %s: %s: %s", Binary, strings.Join(e.Args, " "), status, strings.TrimSpace(e.Output))
}

func (e *RunError) Unwrap() error { return e.Err }

// runQuiet runs go-sendxmpp to completion with stdin as its input and
// returns a *RunError unless it exited 0 and printed nothing.
func (p *Peer) runQuiet(ctx context.Context, stdin string, args ...string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	cmd := p.command(ctx, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // bounds the copy of the output after a kill
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if err != nil || out.Len() > 0 {
		return &RunError{Args: redact(cmd.Args[1:], p.Password), Err: err, Output: out.String()}
	}
	return nil
}

// command is go-sendxmpp for this peer, killed (by its PID) when ctx ends.
func (p *Peer) command(ctx context.Context, args ...string) *exec.Cmd {
	timeout := connectTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := int(time.Until(dl)/time.Second) + 1; left < timeout {
			timeout = left
		}
	}
	base := []string{
		"--timeout", strconv.Itoa(timeout),
		"-u", p.JID, "-p", p.Password,
		"-j", p.srv.Addr, // STARTTLS; an IP literal, so no DNS lookup
	}
	cmd := exec.CommandContext(ctx, Binary, append(base, args...)...)
	cmd.Dir = p.Home
	cmd.Env = p.env()
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

func (p *Peer) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + p.Home,
		"XDG_DATA_HOME=" + filepath.Join(p.Home, ".local", "share"),
		"XDG_CONFIG_HOME=" + filepath.Join(p.Home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(p.Home, ".cache"),
		"SSL_CERT_FILE=" + p.srv.CAFile,
		"SSL_CERT_DIR=" + p.certDir(), // empty: trust the harness CA only
		"TZ=UTC",                      // the listener's timestamps
		"LANG=C.UTF-8",
	}
}

func (p *Peer) certDir() string { return filepath.Join(p.Home, "no-certs") }

func (p *Peer) checkKeyStored() error {
	if _, err := p.PrivateKey(); err != nil {
		return fmt.Errorf("gosendxmpp: go-sendxmpp succeeded but stored no key: %w", err)
	}
	return nil
}

// bound gives ctx a deadline DefaultTimeout away if it has none.
func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func redact(args []string, password string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == password && i > 0 && args[i-1] == "-p" {
			a = "***"
		}
		out[i] = a
	}
	return out
}
