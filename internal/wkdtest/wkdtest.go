package wkdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"codeberg.org/ox/ox/internal/prosody"
)

//go:embed nginx.conf.tmpl
var confTemplate string

// WKSClient is where Debian installs gpg-wks-client (package gpg-wks-client).
const WKSClient = "/usr/lib/gnupg/gpg-wks-client"

// Required reports whether missing programs fail the tests rather than
// skip them: in CI, or with OX_REQUIRE_INTEGRATION set.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("OX_REQUIRE_INTEGRATION") != ""
}

// Server is a running Web Key Directory.
type Server struct {
	Dir     string // the temporary directory: config, trees, certificates
	Addr    string // 127.0.0.1:PORT
	Domains []string
	CAFile  string
	roots   *x509.CertPool
	// noAdvanced: domains whose openpgpkey sub-domain "does not exist".
	noAdvanced map[string]bool
	cmd        *exec.Cmd
}

// Start starts nginx serving a directory for domains, or skips the test
// when nginx or gpg-wks-client is missing (fails it when Required).
func Start(t testing.TB, domains ...string) *Server {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 == nil {
			nginx = "/usr/sbin/nginx"
		}
	}
	missing := ""
	switch {
	case nginx == "":
		missing = "nginx is not installed (apt-get install nginx)"
	case !wksClientExists():
		missing = "gpg-wks-client is not installed (apt-get install gpg-wks-client)"
	}
	if _, err := exec.LookPath("gpg"); err != nil {
		missing = "gpg is not installed (apt-get install gnupg)"
	}
	if missing != "" {
		if Required() {
			t.Fatal(missing + "; the WKD tests require it here")
		}
		t.Skip(missing + ": skipping the WKD tests")
	}
	dir := t.TempDir()
	var names []string
	for _, d := range domains {
		names = append(names, d, "openpgpkey."+d)
	}
	certs, err := prosody.WriteCerts(filepath.Join(dir, "certs"), names)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "advanced/.well-known/openpgpkey", "direct/.well-known/openpgpkey/hu", "gnupg"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	err = template.Must(template.New("nginx").Parse(confTemplate)).Execute(f, map[string]any{
		"Dir": dir, "Port": port, "Domains": domains, "Cert": certs.CertFile, "Key": certs.KeyFile,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	s := &Server{Dir: dir, Addr: "127.0.0.1:" + strconv.Itoa(port), Domains: domains, CAFile: certs.CAFile, roots: roots, noAdvanced: map[string]bool{}}
	s.cmd = exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	s.cmd.SysProcAttr = sysProcAttr() // no server outlives its test
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT) // nginx's graceful stop, by PID
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
		}
	})
	if err := s.waitReady(exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx did not come up: %v\n%s", err, log)
	}
	return s
}

func wksClientExists() bool {
	_, err := os.Stat(WKSClient)
	return err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until nginx accepts TLS connections, or exits.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		c, err := tls.Dial("tcp", s.Addr, s.TLSConfig(s.Domains[0]))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited: %v", err)
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// TLSConfig trusts the throw-away CA (serverName: for a direct dial).
func (s *Server) TLSConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: s.roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Roots is the throw-away CA as a pool.
func (s *Server) Roots() *x509.CertPool { return s.roots }

// WithoutAdvanced makes the openpgpkey sub-domain of domain not exist (its
// name does not resolve), so that clients use the direct method.
func (s *Server) WithoutAdvanced(domain string) { s.noAdvanced[domain] = true }

// DialContext points the server's domains (and their openpgpkey
// sub-domains) at the server; every other name does not resolve.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	for _, d := range s.Domains {
		if host == d || host == "openpgpkey."+d && !s.noAdvanced[d] {
			var dl net.Dialer
			return dl.DialContext(ctx, network, s.Addr)
		}
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
}

// Install publishes the key in keyFile (binary or armored) for the mail
// address as GnuPG users do, with
//
//	gpg-wks-client --install-key KEYFILE ADDRESS
//
// into the advanced method's tree, or with direct into the direct
// method's. gpg-wks-client keeps only the user ID with that address.
func (s *Server) Install(t testing.TB, keyFile, address string, direct bool) {
	t.Helper()
	_, domain, ok := strings.Cut(address, "@")
	if !ok {
		t.Fatalf("wkdtest: %q is no address", address)
	}
	tree := filepath.Join(s.Dir, "advanced/.well-known/openpgpkey")
	if direct {
		tree = filepath.Join(s.Dir, "staging")
		if err := os.MkdirAll(tree, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(WKSClient, "--directory", tree, "--install-key", keyFile, address)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+filepath.Join(s.Dir, "gnupg"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpg-wks-client --install-key %s: %v\n%s", address, err, out)
	}
	if direct {
		// The direct method's tree has no domain level:
		// .well-known/openpgpkey/hu/HASH.
		src := filepath.Join(tree, strings.ToLower(domain), "hu")
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(s.Dir, "direct/.well-known/openpgpkey/hu", e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Put publishes data as it is at the path of the hash of a local part at
// domain, in the advanced method's tree or with direct the direct
// method's: a directory that serves the whole key, with every user ID,
// which gpg-wks-client does not make.
func (s *Server) Put(t testing.TB, domain, hash string, data []byte, direct bool) {
	t.Helper()
	dir := filepath.Join(s.Dir, "advanced/.well-known/openpgpkey", domain, "hu")
	if direct {
		dir = filepath.Join(s.Dir, "direct/.well-known/openpgpkey/hu")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hash), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ErrorLog is nginx's error log, for failure messages.
func (s *Server) ErrorLog() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	return string(b)
}
