package ejabberd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"codeberg.org/ox/ox/internal/testcert"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultDomain       = "localhost"
	DefaultStartTimeout = 30 * time.Second

	// stopTimeout bounds how long Stop waits after SIGQUIT before SIGKILL.
	stopTimeout = 10 * time.Second
	// ctlTimeout bounds one ejabberd_ctl run.
	ctlTimeout = 30 * time.Second
	// portAttempts is how often Start tries fresh random ports when the VM
	// could not bind the ones it was given.
	portAttempts = 3
)

// InstallHint says how to get what this package runs.
const InstallHint = "apt-get install ejabberd"

//go:embed ejabberd.yml.tmpl
var cfgText string

var cfgTmpl = template.Must(template.New("ejabberd.yml").
	Funcs(template.FuncMap{"yaml": yamlString}).
	Parse(cfgText))

// Options configure a server. The zero value is a server for "localhost"
// with no accounts.
type Options struct {
	// Domain is the XMPP domain of the single host; default "localhost". The
	// MUC service is "conference."+Domain.
	Domain string

	// Accounts maps local parts to passwords; each is registered before Start
	// returns.
	Accounts map[string]string

	// ExtraConfig is YAML appended at the end of ejabberd.yml (top-level
	// options not already set by the template).
	ExtraConfig string

	// HTTPUpload enables mod_http_upload (XEP-0363) on a third loopback
	// port (Server.HTTPAddr, HTTPS with the same certificate).
	HTTPUpload bool
	// UploadMax is the largest upload taken, in bytes; 0: DefaultUploadMax.
	UploadMax int64

	// Debug logs at debug level, every stanza, to Server.LogFile.
	Debug bool

	// StartTimeout bounds the wait for the server to listen; default 30 s.
	StartTimeout time.Duration
}

// Server is a running ejabberd started by Start. Its fields are read-only.
type Server struct {
	Domain    string // XMPP domain, e.g. "localhost"
	MUCDomain string // the MUC service, e.g. "conference.localhost"

	Addr     string // 127.0.0.1:port, c2s with STARTTLS (required)
	TLSAddr  string // 127.0.0.1:port, c2s with direct TLS (XEP-0368)
	HTTPAddr string // 127.0.0.1:port, HTTPS for mod_http_upload, or ""

	CAFile     string // PEM of the throw-away CA that signed the server certificate
	Dir        string // the directory given to Start
	ConfigFile string // the generated ejabberd.yml
	LogFile    string // ejabberd.log
	OutFile    string // the VM's stdout and stderr

	node     string // Erlang node name, e.g. ox-1a2b@localhost
	distPort int    // Erlang distribution port on 127.0.0.1
	home     string // HOME of the VM and of the ctl client: the Erlang cookie
	libs     string // ERL_LIBS: where ejabberd's applications are
	caPool   *x509.CertPool
	proc     *proc
}

type proc struct {
	cmd  *exec.Cmd
	home string // the VM's HOME, in its helpers' environment too
	done chan struct{}
	err  error

	stopOnce sync.Once
	stopErr  error
}

type cfgData struct {
	Domain, CertFile, CAFile, UploadDir string
	C2SPort, TLSPort, HTTPPort          int
	HTTPUpload, Debug                   bool
	ExtraConfig                         string
	UploadMax                           int64
}

// DefaultUploadMax is the upload limit of a test server: 16 MiB.
const DefaultUploadMax = 16 << 20

// Available reports whether erl and ejabberd's Erlang applications are
// installed.
func Available() error {
	if _, err := exec.LookPath("erl"); err != nil {
		return fmt.Errorf("ejabberd: erl not found on PATH (%s)", InstallHint)
	}
	if _, err := erlLibs(); err != nil {
		return err
	}
	return nil
}

// Required reports whether tests must fail, rather than skip, when ejabberd
// is missing: in CI or with OX_REQUIRE_INTEGRATION=1.
func Required() bool { return testcert.Required() }

// erlLibs finds the directory that holds ejabberd-VERSION/ebin (Debian:
// /usr/lib/<triplet>), as ejabberdctl's ERL_LIBS does.
func erlLibs() (string, error) {
	if p, err := exec.LookPath("ejabberdctl"); err == nil {
		if data, err := os.ReadFile(p); err == nil {
			if m := regexp.MustCompile(`(?m)^ERL_LIBS='?([^'\n]+)'?$`).FindSubmatch(data); m != nil {
				return string(m[1]), nil
			}
		}
	}
	for _, pat := range []string{"/usr/lib/*/ejabberd-*/ebin/ejabberd.app", "/usr/lib/ejabberd-*/ebin/ejabberd.app"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return filepath.Dir(filepath.Dir(filepath.Dir(m[0]))), nil
		}
	}
	return "", fmt.Errorf("ejabberd: its Erlang applications are not installed (%s)", InstallHint)
}

// StartT starts a server in t.TempDir() and stops it in t.Cleanup. When
// ejabberd is not installed it skips the test, or fails it when Required.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	if err := Available(); err != nil {
		if Required() {
			t.Fatalf("%v; integration tests are required here (CI or OX_REQUIRE_INTEGRATION=1)", err)
		}
		t.Skipf("ejabberd not installed: %s (set OX_REQUIRE_INTEGRATION=1 to fail instead)", InstallHint)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := Start(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping ejabberd: %v", err)
		}
	})
	return s
}

// Start writes the configuration, certificates, cookie and spool into dir
// (a directory the caller owns and removes), launches the Erlang VM as a
// child process and waits until ejabberd has started, registered
// opts.Accounts and accepts connections on Addr. ctx bounds only the start.
// On failure the VM is stopped and the error carries the end of its log.
func Start(ctx context.Context, dir string, opts Options) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	libs, _ := erlLibs()
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if err := testcert.CheckDomain(opts.Domain); err != nil {
		return nil, fmt.Errorf("ejabberd: %w", err)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Domain:     opts.Domain,
		MUCDomain:  "conference." + opts.Domain,
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "ejabberd.yml"),
		LogFile:    filepath.Join(dir, "logs", "ejabberd.log"),
		OutFile:    filepath.Join(dir, "ejabberd.out"),
		home:       filepath.Join(dir, "home"),
		libs:       libs,
		node:       "ox-" + randHex(6) + "@localhost",
	}
	for _, d := range []string{"logs", "spool", "home", "upload"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	dnsNames := []string{s.Domain, s.MUCDomain}
	if s.Domain != "localhost" {
		dnsNames = append(dnsNames, "localhost", "conference.localhost")
	}
	certs, err := testcert.Write(filepath.Join(dir, "certs"), dnsNames)
	if err != nil {
		return nil, err
	}
	s.CAFile = certs.CAFile
	// ejabberd wants the certificate and its key in one PEM file.
	var pemFile []byte
	for _, f := range []string{certs.CertFile, certs.KeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pemFile = append(pemFile, b...)
	}
	serverPEM := filepath.Join(dir, "certs", "server.pem")
	if err := os.WriteFile(serverPEM, pemFile, 0o600); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(certs.CAFile)
	if err != nil {
		return nil, err
	}
	s.caPool = x509.NewCertPool()
	if !s.caPool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ejabberd: cannot load the CA just written")
	}
	// The cookie is the only secret of the Erlang distribution: random, in
	// the VM's HOME (never on a command line), readable by us only.
	if err := os.WriteFile(filepath.Join(s.home, ".erlang.cookie"), []byte(randHex(16)), 0o400); err != nil {
		return nil, err
	}
	// Names resolve from this table only: the VM never asks DNS.
	inetrc := "{lookup, [\"file\"]}.\n{host, {127,0,0,1}, [\"localhost\"]}.\n"
	if err := os.WriteFile(filepath.Join(dir, "inetrc"), []byte(inetrc), 0o600); err != nil {
		return nil, err
	}
	var accounts strings.Builder
	for local, password := range opts.Accounts {
		if err := checkAccount(local, password); err != nil {
			return nil, err
		}
		fmt.Fprintf(&accounts, "%s\t%s\n", local, password)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(accounts.String()), 0o600); err != nil {
		return nil, err
	}

	data := cfgData{
		Domain:      s.Domain,
		CertFile:    serverPEM,
		CAFile:      certs.CAFile,
		UploadDir:   filepath.Join(dir, "upload"),
		HTTPUpload:  opts.HTTPUpload,
		Debug:       opts.Debug,
		ExtraConfig: opts.ExtraConfig,
		UploadMax:   opts.UploadMax,
	}
	if data.UploadMax <= 0 {
		data.UploadMax = DefaultUploadMax
	}
	var lastErr error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		ports, err := pickPorts(4)
		if err != nil {
			return nil, err
		}
		data.C2SPort, data.TLSPort, data.HTTPPort, s.distPort = ports[0], ports[1], ports[2], ports[3]
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(data.C2SPort))
		s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(data.TLSPort))
		if opts.HTTPUpload {
			s.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(data.HTTPPort))
		}
		var buf bytes.Buffer
		if err := cfgTmpl.Execute(&buf, data); err != nil {
			return nil, err
		}
		if err := os.WriteFile(s.ConfigFile, buf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		err = s.launch(ctx, opts.StartTimeout)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		// A fresh spool: Mnesia of the failed VM may be half written.
		_ = os.RemoveAll(filepath.Join(dir, "spool"))
		_ = os.MkdirAll(filepath.Join(dir, "spool"), 0o700)
	}
	return nil, lastErr
}

var errPortTaken = errors.New("could not bind its ports (taken by another process?)")

// bootEval runs in the VM once "-s ejabberd" has started the application:
// it registers the accounts listed in the file (local TAB password per line)
// and then writes the ready file. Registering here, not with ejabberdctl,
// saves a second VM start per account.
const bootEval = `{ok, B} = file:read_file(os:getenv("OX_ACCOUNTS")),
D = list_to_binary(os:getenv("OX_DOMAIN")),
lists:foreach(fun(L) ->
    [U, P] = binary:split(L, <<"\t">>),
    case ejabberd_auth:try_register(U, D, P) of
        ok -> ok;
        {error, exists} -> ok = ejabberd_auth:set_password(U, D, P)
    end
  end, binary:split(B, <<"\n">>, [global, trim_all])),
ok = file:write_file(os:getenv("OX_READY"), <<"ok">>).`

func (s *Server) env() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		// The VM's own environment only: no inherited Erlang settings.
		if strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "EJABBERD_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+s.home,
		"ERL_LIBS="+s.libs,
		"ERL_INETRC="+filepath.Join(s.Dir, "inetrc"),
		"ERL_CRASH_DUMP_BYTES=0",
		"EJABBERD_CONFIG_PATH="+s.ConfigFile,
		"EJABBERD_LOG_PATH="+s.LogFile,
	)
}

// distArgs make the node use the distribution port on loopback without
// epmd.
func (s *Server) distArgs() []string {
	return []string{
		"-erl_epmd_port", strconv.Itoa(s.distPort), "-start_epmd", "false",
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
	}
}

func (s *Server) launch(ctx context.Context, timeout time.Duration) error {
	ready := filepath.Join(s.Dir, "ready")
	_ = os.Remove(ready)
	_ = os.Remove(s.LogFile)
	out, err := os.OpenFile(s.OutFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()

	args := append([]string{"-sname", s.node, "+K", "true", "+P", "250000"}, s.distArgs()...)
	args = append(args,
		"-mnesia", "dir", strconv.Quote(filepath.Join(s.Dir, "spool")),
		"-ejabberd", "log_rotate_count", "0",
		"-s", "ejabberd",
		"-eval", bootEval,
		"-noinput")
	cmd := exec.Command("erl", args...)
	cmd.Dir = s.Dir
	cmd.Env = append(s.env(),
		"OX_ACCOUNTS="+filepath.Join(s.Dir, "accounts"),
		"OX_DOMAIN="+s.Domain,
		"OX_READY="+ready)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ejabberd: start: %w", err)
	}
	p := &proc{cmd: cmd, home: s.home, done: make(chan struct{})}
	s.proc = p
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := s.waitReady(ctx, timeout, ready); err != nil {
		_ = s.Stop()
		if !errors.Is(err, errPortTaken) && portTaken(s.OutFile) {
			err = errPortTaken
		}
		return fmt.Errorf("ejabberd: %w (after %v)\n%s", err, time.Since(start).Round(time.Millisecond), s.diagnostics())
	}
	return nil
}

// Restart stops the server as Stop does and starts it again on the same
// ports with the same data (accounts, offline messages, archives, PEP
// nodes): what a server's restart does to its clients.
//
// Unlike Stop (SIGQUIT: a halt, as a crash would be), it stops ejabberd as
// an administrator does (ejabberdctl stop), so that Mnesia writes out its
// tables: archives and offline messages outlive the restart.
func (s *Server) Restart(ctx context.Context) error {
	p := s.proc
	if _, err := s.ctl(ctx, "stop"); err != nil {
		return fmt.Errorf("ejabberd: restart: %w", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("ejabberd: restart: pid %d still runs %v after 'stop'", p.cmd.Process.Pid, stopTimeout)
	}
	p.stopOnce.Do(func() {}) // stopped: a later Stop has nothing to do
	endHelpers(p.home)
	return s.launch(ctx, DefaultStartTimeout)
}

func portTaken(outFile string) bool {
	b, _ := os.ReadFile(outFile)
	return bytes.Contains(b, []byte("eaddrinuse")) || bytes.Contains(b, []byte("already in use"))
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration, ready string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(ready); err == nil {
			var d net.Dialer
			dctx, dcancel := context.WithTimeout(ctx, time.Second)
			c, err := d.DialContext(dctx, "tcp", s.Addr)
			dcancel()
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-s.proc.done:
			if portTaken(s.OutFile) {
				return errPortTaken
			}
			return fmt.Errorf("exited during start: %v", s.proc.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready on %s: %w", s.Addr, ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Server) diagnostics() string {
	var b strings.Builder
	for _, f := range []struct{ name, path string }{{"log", s.LogFile}, {"console", s.OutFile}} {
		fmt.Fprintf(&b, "--- ejabberd %s (%s), last lines:\n%s\n", f.name, f.path, testcert.Tail(f.path, 30))
	}
	return b.String()
}

// PID is the process ID of the running VM, or 0.
func (s *Server) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Stop ends the VM that Start launched, and only that one: SIGQUIT to its
// PID, on which the Erlang VM halts at once (about 10 ms; SIGTERM's orderly
// init:stop takes a second, and nothing of a test server is worth keeping),
// then SIGKILL if it is still there after 10 s. Its helper processes
// (erl_child_setup) end with it, and Stop waits for them. Safe to call more than once. It returns an
// error when the VM had died before Stop or had to be killed.
func (s *Server) Stop() error {
	if s.proc == nil {
		return nil
	}
	p := s.proc
	p.stopOnce.Do(func() { p.stopErr = p.terminate() })
	return p.stopErr
}

func (p *proc) terminate() error {
	pid := p.cmd.Process.Pid
	select {
	case <-p.done:
		endHelpers(p.home)
		return fmt.Errorf("ejabberd: pid %d exited before Stop: %v", pid, p.err)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("ejabberd: SIGQUIT pid %d: %w", pid, err)
	}
	defer endHelpers(p.home)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("ejabberd: pid %d ignored SIGQUIT for %v; killed", pid, stopTimeout)
	}
}

// Register creates local@Domain with password, or sets the password of an
// existing account, through ejabberd_ctl over the Erlang distribution
// (about 0.3 s: a second, short-lived VM).
func (s *Server) Register(ctx context.Context, local, password string) error {
	if err := checkAccount(local, password); err != nil {
		return err
	}
	out, err := s.ctl(ctx, "register", local, s.Domain, password)
	if err != nil && strings.Contains(out, "already registered") {
		_, err = s.ctl(ctx, "change_password", local, s.Domain, password)
	}
	return err
}

func (s *Server) ctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	a := append([]string{"-sname", "ctl-" + randHex(6) + "@localhost", "-hidden", "-noinput"}, s.distArgs()...)
	a = append(a, "-dist_listen", "false", "-s", "ejabberd_ctl", "-extra", s.node)
	cmd := exec.CommandContext(ctx, "erl", append(a, args...)...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ejabberd: ejabberd_ctl %s %s: %w\n%s", args[0], args[1], err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// TLSConfig returns a client TLS config that trusts only the throw-away CA
// and expects the certificate of Domain. TLS 1.3 is allowed, as for any
// user: ejabberd 23.01 offers SCRAM-*-PLUS there without a binding type it
// takes, and ox.Dial must log in anyway (issue 13).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		RootCAs:    s.caPool,
		ServerName: s.Domain,
		MinVersion: tls.VersionTLS12,
	}
}

// JID returns local@Domain.
func (s *Server) JID(local string) string { return local + "@" + s.Domain }

func checkAccount(local, password string) error {
	if local == "" || strings.ContainsAny(local, "@/ \t\r\n") {
		return fmt.Errorf("ejabberd: register: invalid local part %q", local)
	}
	if password == "" || strings.ContainsAny(password, "\t\r\n") {
		return fmt.Errorf("ejabberd: register %s: empty password or one with a tab or newline", local)
	}
	return nil
}

// yamlString quotes s as a YAML double-quoted scalar.
func yamlString(s string) string { return strconv.Quote(s) }

var pickPorts = testcert.FreePorts

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
