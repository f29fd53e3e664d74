package gnupg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// MinVersion is the oldest GnuPG this backend drives: 2.2.9 (2018) is the
// first with both --show-keys (2.2.8) and the "usage" property of
// --export-filter drop-subkey (2.2.9), and 2.2.8 fixed the injection of
// status lines through file names (CVE-2018-12020).
const MinVersion = "2.2.9"

var minVersion = [3]int{2, 2, 9}

// MaxMessageSize bounds the plaintext Open returns, as in the native
// backend: XMPP servers refuse stanzas far smaller than this.
const MaxMessageSize = 1 << 20

// Options configure a Backend.
type Options struct {
	// Home is the GnuPG home directory (GNUPGHOME). Empty means what gpg
	// uses: $GNUPGHOME, or ~/.gnupg.
	Home string
	// GPG is the gpg binary: a path, or a name looked up in $PATH. Empty
	// means "gpg", or "gpg2" where "gpg" is missing or too old.
	GPG string
	// Now, when set, is the clock ox judges keys by, and gpg is run with
	// --faked-system-time set to it (for tests, and for reading old
	// messages as of their time). Nil means the system clock.
	Now func() time.Time
	// NoPinentry makes gpg fail at once, with ErrNoPinentry, where it would
	// have gpg-agent ask for a passphrase or PIN (--pinentry-mode error):
	// for daemons and scripts that nobody watches. Passphrases cached in
	// gpg-agent (or preset with gpg-preset-passphrase) are still used.
	NoPinentry bool
}

// Backend is a pgp.Backend over the gpg binary and the user's GnuPG home.
// It is safe for concurrent use. Secret keys never leave gpg-agent: ox asks
// gpg to sign and decrypt and reads only gpg's status lines, colon listings
// and output (see the package documentation).
type Backend struct {
	gpg        string
	version    string
	home       string // absolute; "" only when no home could be found
	now        func() time.Time
	fakedTime  bool
	noPinentry bool

	mu    sync.Mutex
	cache *cache
	runs  atomic.Int64 // gpg runs, for the tests of the cache
}

var _ pgp.Backend = (*Backend)(nil)

// New checks that gpg is there and new enough and returns a backend over
// opts.Home. It does not start gpg-agent: gpg starts it when it first needs
// a secret key.
func New(opts Options) (*Backend, error) {
	b := &Backend{now: time.Now, noPinentry: opts.NoPinentry}
	if opts.Now != nil {
		b.now, b.fakedTime = opts.Now, true
	}
	home, err := resolveHome(opts.Home)
	if err != nil {
		return nil, err
	}
	b.home = home
	candidates := []string{opts.GPG}
	if opts.GPG == "" {
		candidates = []string{"gpg", "gpg2"}
	}
	var firstErr error
	for _, c := range candidates {
		path, version, err := checkGPG(c)
		if err == nil {
			b.gpg, b.version = path, version
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if b.gpg == "" {
		return nil, firstErr
	}
	if b.home != "" {
		if _, err := os.Stat(b.home); errors.Is(err, os.ErrNotExist) {
			// gpg makes only its default home itself.
			if err := os.MkdirAll(b.home, 0o700); err != nil {
				return nil, fmt.Errorf("gnupg: create the GnuPG home: %w", err)
			}
		}
	}
	return b, nil
}

// Version is the GnuPG version of the binary the backend runs.
func (b *Backend) Version() string { return b.version }

// Home is the GnuPG home directory the backend works on.
func (b *Backend) Home() string { return b.home }

// Close releases nothing: gpg-agent belongs to the user and keeps running.
func (b *Backend) Close() error { return nil }

func resolveHome(h string) (string, error) {
	if h == "" {
		h = os.Getenv("GNUPGHOME")
	}
	if h == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", &Error{Err: ErrGPG, Detail: "no GnuPG home: " + err.Error(), Advice: "set GNUPGHOME or say which GnuPG home to use"}
		}
		h = filepath.Join(u, ".gnupg")
	}
	return filepath.Abs(h)
}

// checkGPG finds the binary and reads its version from the first line of
// `gpg --version` ("gpg (GnuPG) 2.2.40"), the one line of that output meant
// to be read by programs.
func checkGPG(name string) (path, version string, err error) {
	path, err = exec.LookPath(name)
	if err != nil {
		return "", "", &Error{Err: ErrGPGNotFound, Detail: "no " + name + " in $PATH",
			Advice: "install GnuPG " + MinVersion + " or later (Debian and Ubuntu: apt-get install gnupg), or say where gpg is"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--batch", "--no-tty", "--version").Output()
	if err != nil {
		return "", "", &Error{Err: ErrGPGNotFound, Detail: path + " --version: " + err.Error(),
			Advice: "check that " + path + " is GnuPG and runs"}
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, ok := parseVersion(first)
	if !ok {
		return "", "", &Error{Err: ErrGPGNotFound, Detail: fmt.Sprintf("%s says %q, not a GnuPG version", path, first),
			Advice: "point ox at GnuPG's gpg"}
	}
	if !versionAtLeast(v, minVersion) {
		return "", "", &VersionError{GPG: path, Version: v}
	}
	return path, v, nil
}

// parseVersion reads "gpg (GnuPG) 2.2.40" (also "gpg (GnuPG/MacGPG2) 2.2.41"
// and "gpg (GnuPG) 2.4.4-unknown").
func parseVersion(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "gpg" && f[0] != "gpg2" || !strings.HasPrefix(f[1], "(GnuPG") {
		return "", false
	}
	v := f[len(f)-1]
	if _, ok := versionParts(v); !ok {
		return "", false
	}
	return v, true
}

func versionParts(v string) ([3]int, bool) {
	var p [3]int
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return p, false
	}
	for i, s := range parts {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(s[:end])
		if err != nil {
			return p, false
		}
		p[i] = n
	}
	return p, true
}

func versionAtLeast(v string, min [3]int) bool {
	p, ok := versionParts(v)
	if !ok {
		return false
	}
	for i := range p {
		if p[i] != min[i] {
			return p[i] > min[i]
		}
	}
	return true
}

// status is one "[GNUPG:] KEYWORD ARGS" line from --status-fd.
type status struct {
	kw   string
	args []string
}

func (s status) arg(i int) string {
	if i < len(s.args) {
		return s.args[i]
	}
	return ""
}

// result is what one gpg run produced.
type result struct {
	stdout   []byte
	overflow bool // stdout exceeded the limit; the rest was dropped
	status   []status
	stderr   []byte
	exit     int
}

func (r *result) has(kw string) bool {
	for _, s := range r.status {
		if s.kw == kw {
			return true
		}
	}
	return false
}

func (r *result) first(kw string) (status, bool) {
	for _, s := range r.status {
		if s.kw == kw {
			return s, true
		}
	}
	return status{}, false
}

func (r *result) all(kw string) []status {
	var out []status
	for _, s := range r.status {
		if s.kw == kw {
			out = append(out, s)
		}
	}
	return out
}

// detail is the last thing gpg said on stderr, for the user (never parsed).
func (r *result) detail() string {
	lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.Contains(l, "WARNING: running with faked system time") {
			continue
		}
		return l
	}
	return ""
}

// failure finds the first ERROR or FAILURE status with an agent, pinentry
// or card problem, and returns its code as gpg printed it (the source in
// the high byte).
func (r *result) failure() (code int, kind error) {
	for _, s := range r.status {
		if s.kw != "ERROR" && s.kw != "FAILURE" && s.kw != "SC_OP_FAILURE" {
			continue
		}
		arg := s.arg(1)
		if s.kw == "SC_OP_FAILURE" {
			arg = s.arg(0)
		}
		n, err := strconv.ParseUint(arg, 10, 32)
		if err != nil {
			continue
		}
		if k := kindOf(int(n)); k != nil {
			return int(n), k
		}
		if code == 0 {
			code = int(n)
		}
	}
	if r.has("NEED_PASSPHRASE") || r.has("NEED_PASSPHRASE_PIN") {
		// gpg asked for a passphrase itself (pinentry-mode loopback in
		// gpg.conf) and got none: in batch mode it gives up without an
		// error status.
		return code, ErrNoPinentry
	}
	return code, nil
}

// baseArgs are given to every gpg run: machine interfaces only, and the
// options of gpg.conf that would change what ox asked for switched off.
//
// Trust: every run but the key listings uses --trust-model always, so that
// gpg signs, encrypts to and verifies with exactly the keys ox chose (ox
// decides which keys to use from the validity the listings give, and the
// user's decisions; see the package documentation); it also keeps those
// runs from updating the trustdb. The key listings (userTrust) run under
// the user's own trust model, from gpg.conf, and let gpg bring the trustdb
// up to date first, as a plain 'gpg --list-keys' does, so that the validity
// they show is current.
func (b *Backend) baseArgs(userTrust bool) []string {
	a := []string{
		"--homedir", b.home,
		"--batch", "--no-tty", "--status-fd", "3", "--exit-on-status-write-error",
		"--with-colons", "--fixed-list-mode", "--utf8-strings",
		// ox fetches keys over PEP; gpg must not look them up elsewhere.
		"--no-auto-key-retrieve",
	}
	if !userTrust {
		a = append(a, "--trust-model", "always", "--no-auto-check-trustdb")
	}
	if b.noPinentry {
		a = append(a, "--pinentry-mode", "error")
	}
	if b.fakedTime {
		a = append(a, "--faked-system-time", strconv.FormatInt(b.now().Unix(), 10)+"!")
	}
	return a
}

// stderrLimit bounds what is kept of gpg's diagnostics.
const stderrLimit = 64 << 10

// run runs gpg with args after the base arguments, stdin as its input, and
// keeps at most limit bytes of its output (0: no limit).
func (b *Backend) run(ctx context.Context, stdin []byte, limit int, args ...string) (*result, error) {
	return b.runWith(ctx, false, stdin, limit, args...)
}

// runUserTrust is run under the user's trust model (see baseArgs).
func (b *Backend) runUserTrust(ctx context.Context, args ...string) (*result, error) {
	return b.runWith(ctx, true, nil, 0, args...)
}

func (b *Backend) runWith(ctx context.Context, userTrust bool, stdin []byte, limit int, args ...string) (*result, error) {
	b.runs.Add(1)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("gnupg: %w", err)
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, b.gpg, append(b.baseArgs(userTrust), args...)...)
	cmd.ExtraFiles = []*os.File{pw} // fd 3: --status-fd 3
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out := &capped{limit: limit}
	errb := &capped{limit: stderrLimit}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, &Error{Op: args[0], Err: ErrGPGNotFound, Detail: err.Error(), Advice: "check that " + b.gpg + " runs"}
	}
	pw.Close()
	var st []status
	done := make(chan struct{})
	go func() {
		defer close(done)
		st = readStatus(pr)
	}()
	werr := cmd.Wait()
	// gpg has exited, so its status lines are all in the pipe. A process
	// it started (gpg-agent) must not hold the pipe open and keep ox
	// waiting: read what is there, then give up.
	_ = pr.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-done
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r := &result{stdout: out.buf.Bytes(), overflow: out.over, status: st, stderr: errb.buf.Bytes()}
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		r.exit = ee.ExitCode()
	default:
		return nil, &Error{Op: args[0], Err: ErrGPG, Detail: werr.Error()}
	}
	return r, nil
}

func readStatus(r io.Reader) []status {
	var out []status
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "[GNUPG:] ")
		if !ok {
			continue
		}
		f := strings.Split(line, " ")
		out = append(out, status{kw: f[0], args: f[1:]})
	}
	// Drain whatever a too-long line left, so gpg never blocks on the pipe.
	_, _ = io.Copy(io.Discard, r)
	return out
}

// capped keeps the first limit bytes written to it and counts the rest.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.limit <= 0 {
		return c.buf.Write(p)
	}
	room := c.limit - c.buf.Len()
	if len(p) > room {
		c.over = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}
