package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"codeberg.org/ox/ox/internal/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ox": func() {
			// Test only: OX_TEST_CLOCK_OFFSET=2h runs ox two hours in the
			// future, so a script judges expiry without sleeping.
			if d := os.Getenv("OX_TEST_CLOCK_OFFSET"); d != "" {
				off, err := time.ParseDuration(d)
				if err != nil {
					fmt.Fprintln(os.Stderr, "OX_TEST_CLOCK_OFFSET:", err)
					os.Exit(3)
				}
				clock = func() time.Time { return time.Now().Add(off) }
			}
			os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestIntegrationScripts runs the network commands as a user would, against
// a real server that each script gets to itself, once on Prosody and once on
// ejabberd (accounts alice, bob and carol, password <name>-pass; OX_SERVER
// and OX_CA_FILE point at it). A line that holds on one server only is
// prefixed with the condition [prosody] or [ejabberd].
func TestIntegrationScripts(t *testing.T) {
	testenv.EachServer(t, func(t *testing.T, name string) {
		testenv.Require(t, name)
		testscript.Run(t, testscript.Params{
			Dir:  filepath.Join("testdata", "netscript"),
			Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"flip": flip, "wrap": wrap},
			Condition: func(cond string) (bool, error) {
				switch cond {
				case testenv.Prosody, testenv.Ejabberd:
					return cond == name, nil
				}
				return false, fmt.Errorf("unknown condition %q", cond)
			},
			Setup: func(e *testscript.Env) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				srv, err := testenv.Start(ctx, name, filepath.Join(e.WorkDir, "."+name), testenv.Options{Accounts: testenv.Users("alice", "bob", "carol").Accounts, Upload: true})
				if err != nil {
					return err
				}
				e.Defer(func() { srv.Stop() })
				e.Setenv("OX_SERVER", srv.Addr)
				e.Setenv("OX_STARTTLS_SERVER", srv.Addr)
				e.Setenv("OX_CA_FILE", srv.CAFile)
				e.Setenv("OX_TLS_SERVER", srv.TLSAddr) // for --direct-tls
				e.Setenv("XDG_DATA_HOME", filepath.Join(e.WorkDir, ".xdg-data"))
				e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".xdg-config"))
				return nil
			},
		})
	})
}

// TestScripts runs the CLI as a user would, one scenario per file in
// testdata/script; the captured vectors are copied into each script's
// work directory as vectors/.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flip": flip, "wrap": wrap, "silentserver": silentServer, "waitaccept": waitAccept, "damagekey": damageKey,
		},
		// [tty]: ox would prompt on the terminal (passphrase.txtar).
		Condition: func(cond string) (bool, error) {
			if cond == "tty" {
				return hasTerminal(), nil
			}
			return false, errors.New("unknown condition " + cond)
		},
		Setup: func(e *testscript.Env) error {
			dst := filepath.Join(e.WorkDir, "vectors")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*"))
			if err != nil {
				return err
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
					return err
				}
			}
			if _, err := exec.LookPath("gpg"); err != nil && (os.Getenv("CI") != "" || os.Getenv("OX_REQUIRE_INTEGRATION") != "") {
				return errors.New("gpg is not installed (apt-get install gnupg); the GnuPG interop scripts need it in CI")
			}
			// Hermetic: no user's real XDG directories.
			e.Setenv("XDG_DATA_HOME", filepath.Join(e.WorkDir, ".xdg-data"))
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".xdg-config"))
			return nil
		},
	})
}

var openpgpText = regexp.MustCompile(`(<openpgp[^>]*>)([^<]+)(</openpgp>)`)

// flip IN OUT copies an <openpgp/> element, flipping one bit of the OpenPGP
// message five bytes from its end (inside the encrypted data).
func flip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flip IN OUT")
	}
	in := ts.ReadFile(args[0])
	m := openpgpText.FindStringSubmatch(in)
	if m == nil {
		ts.Fatalf("%s: no <openpgp/>", args[0])
	}
	raw, err := base64.StdEncoding.DecodeString(m[2])
	ts.Check(err)
	raw[len(raw)-5] ^= 0x01
	out := m[1] + base64.StdEncoding.EncodeToString(raw) + m[3] + "\n"
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// wrap IN OUT writes the binary OpenPGP message IN as an <openpgp/> element.
func wrap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: wrap IN OUT")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	out := "<openpgp xmlns='urn:xmpp:openpgp:0'>" + base64.StdEncoding.EncodeToString(raw) + "</openpgp>\n"
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// TestManPageCurrent: doc/ox.1 is what 'ox man' prints now; after a change
// to a command, run 'go generate ./cmd/ox'.
func TestManPageCurrent(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "doc", "ox.1"))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	writeMan(&got)
	if got.String() != string(want) {
		t.Fatal("doc/ox.1 is not what 'ox man' prints: run 'go generate ./cmd/ox'")
	}
}

// silentServers are the scripts' silent servers, by script.
var silentServers sync.Map // *testscript.TestScript -> chan struct{}

// silentserver listens on a loopback port that accepts connections and
// never answers, and sets OX_SERVER to it: a network command then blocks.
func silentServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: silentserver")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	accepted := make(chan struct{})
	silentServers.Store(ts, accepted)
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if held = append(held, c); len(held) == 1 {
				close(accepted)
			}
		}
	}()
	ts.Defer(func() { l.Close() })
	ts.Setenv("OX_SERVER", l.Addr().String())
}

// waitaccept waits until the silent server has a connection.
func waitAccept(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := silentServers.Load(ts)
	if neg || len(args) != 0 || !ok {
		ts.Fatalf("usage: waitaccept, after silentserver")
	}
	<-v.(chan struct{})
}

// ox --version names a tagged build by its version, and any other by the
// source revision and whether the tree had changes.
func TestMainVersion(t *testing.T) {
	for _, c := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "e06efe46bf43e24a8737bd04f7310660a2d83d89"},
			{Key: "vcs.time", Value: "2026-12-03T08:43:23Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, "devel (revision e06efe46bf43 of 2026-12-03T08:43:23Z, with uncommitted changes)"},
	} {
		if got := mainVersion(&c.bi); got != c.want {
			t.Errorf("mainVersion(%+v) = %q, want %q", c.bi, got, c.want)
		}
	}
}
