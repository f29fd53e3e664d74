package gosendxmpp

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLineWith(t *testing.T) {
	out := "2026-11-26T13:26:09Z [OX] alice@localhost: one\nsecond line\npartial two"
	for _, c := range []struct {
		text, line string
		ok         bool
	}{
		{"one", "2026-11-26T13:26:09Z [OX] alice@localhost: one", true},
		{"second", "second line", true},
		{"two", "", false}, // not terminated yet
		{"absent", "", false},
	} {
		line, ok := lineWith(out, c.text)
		if line != c.line || ok != c.ok {
			t.Errorf("lineWith(%q) = %q, %v; want %q, %v", c.text, line, ok, c.line, c.ok)
		}
	}
}

func TestOutBufSignalsGrowth(t *testing.T) {
	o := newOutBuf()
	s, changed := o.snapshot()
	if s != "" {
		t.Fatalf("new buffer holds %q", s)
	}
	o.Write([]byte("abc\n"))
	select {
	case <-changed:
	default:
		t.Fatal("write did not signal")
	}
	if s, _ := o.snapshot(); s != "abc\n" {
		t.Fatalf("buffer holds %q", s)
	}
}

func TestKeyFile(t *testing.T) {
	// go-sendxmpp names the file after the padded standard base64 of the JID.
	p := &Peer{JID: "bob@localhost", Home: "/h"}
	if got, want := p.KeyFile(), filepath.FromSlash("/h/.local/share/go-sendxmpp/oxprivkeys/Ym9iQGxvY2FsaG9zdA=="); got != want {
		t.Errorf("KeyFile = %q, want %q", got, want)
	}
}

func TestRunErrorHidesPassword(t *testing.T) {
	e := &RunError{Args: redact([]string{"-u", "a@localhost", "-p", "secret", "--ox", "b@localhost"}, "secret"), Output: "boom\n"}
	if msg := e.Error(); strings.Contains(msg, "secret") || !strings.Contains(msg, "exit status 0: boom") {
		t.Errorf("Error() = %q", msg)
	}
}
