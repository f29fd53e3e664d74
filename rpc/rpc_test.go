package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type addParams struct {
	A int `json:"a"`
	B int `json:"b"`
}

func testServer(calls *int) *Server {
	s := NewServer()
	s.Handle("add", func(_ context.Context, _ *Conn, p json.RawMessage) (any, error) {
		var a addParams
		if err := Params(p, &a); err != nil {
			return nil, err
		}
		*calls++
		return map[string]int{"sum": a.A + a.B}, nil
	})
	s.Handle("fail", func(context.Context, *Conn, json.RawMessage) (any, error) {
		return nil, errors.New("no usable key for bob@example.org")
	})
	return s
}

// serveLines answers each input line and returns the output lines.
func serveLines(t *testing.T, s *Server, in string) []map[string]any {
	t.Helper()
	var out strings.Builder
	c := NewConn(&out, func() error { return nil })
	if err := s.ServeConn(context.Background(), c, strings.NewReader(in)); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		t.Fatal(err)
	}
	var res []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// a batch answer
			var arr []map[string]any
			if err := json.Unmarshal(sc.Bytes(), &arr); err != nil {
				t.Fatalf("answer %q is not JSON: %v", sc.Text(), err)
			}
			res = append(res, map[string]any{"batch": arr})
			continue
		}
		res = append(res, m)
	}
	return res
}

func code(m map[string]any) int {
	e, _ := m["error"].(map[string]any)
	if e == nil {
		return 0
	}
	return int(e["code"].(float64))
}

func TestServerRequests(t *testing.T) {
	calls := 0
	s := testServer(&calls)
	s.ErrorOf = func(err error) *Error { return &Error{Code: CodeNoUsableKey, Message: err.Error()} }
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":2,"b":3}}`,
		`{"jsonrpc":"2.0","id":2,"method":"add","params":{"a":2,"c":3}}`, // unknown field
		`{"jsonrpc":"2.0","id":3,"method":"add","params":"x"}`,           // not an object
		`{"jsonrpc":"2.0","id":4,"method":"nope"}`,
		`{"jsonrpc":"2.0","id":5,"method":"add","params":{"a":"two"}}`, // wrong type
		`{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":1}}`,      // a notification: no answer
		`{not json`,
		`{"id":6,"method":"add"}`, // no jsonrpc
		`{"jsonrpc":"2.0","id":{"x":1},"method":"add"}`,
		`{"jsonrpc":"2.0","id":"s","method":"fail"}`,
		`[{"jsonrpc":"2.0","id":7,"method":"add","params":{"a":1,"b":1}},{"jsonrpc":"2.0","id":8,"method":"nope"}]`,
		`[]`,
	}, "\n")
	res := serveLines(t, s, in)
	want := []struct {
		id   any
		code int
	}{{1.0, 0}, {2.0, CodeInvalidParams}, {3.0, CodeInvalidParams}, {4.0, CodeMethodNotFound}, {5.0, CodeInvalidParams},
		{nil, CodeParse}, {6.0, CodeInvalidRequest}, {nil, CodeInvalidRequest}, {"s", CodeNoUsableKey}, {"batch", 0}, {nil, CodeInvalidRequest}}
	if len(res) != len(want) {
		t.Fatalf("got %d answers, want %d: %v", len(res), len(want), res)
	}
	for i, w := range want {
		if w.id == "batch" {
			b := res[i]["batch"].([]map[string]any)
			if len(b) != 2 || code(b[1]) != CodeMethodNotFound || b[0]["result"].(map[string]any)["sum"] != 2.0 {
				t.Errorf("batch answer %v", b)
			}
			continue
		}
		if res[i]["id"] != w.id || code(res[i]) != w.code || res[i]["jsonrpc"] != "2.0" {
			t.Errorf("answer %d = %v, want id %v code %d", i, res[i], w.id, w.code)
		}
	}
	if res[0]["result"].(map[string]any)["sum"] != 5.0 {
		t.Errorf("add: %v", res[0])
	}
	// Only the good requests ran: 1, the notification and the batch's first.
	if calls != 3 {
		t.Errorf("the method ran %d times, want 3: a bad request must change nothing", calls)
	}
	if msg := res[8]["error"].(map[string]any)["message"]; msg != "no usable key for bob@example.org" {
		t.Errorf("error message %q", msg)
	}
}

func TestServerLineTooLong(t *testing.T) {
	calls := 0
	res := serveLines(t, testServer(&calls), `{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":"`+strings.Repeat("x", MaxLine)+`"}}`+"\n")
	if len(res) != 1 || code(res[0]) != CodeInvalidRequest || calls != 0 {
		t.Fatalf("a line over MaxLine: %v (calls %d)", res, calls)
	}
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "oxrpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestSocket(t *testing.T) {
	calls := 0
	s := testServer(&calls)
	path := SocketPath(shortDir(t), "alice@example.org", "/home/alice/.local/share/ox/alice@example.org")
	if _, err := Dial(path); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial before a daemon: %v, want ErrNoDaemon", err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	dst, _ := os.Stat(filepath.Dir(path))
	if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
		t.Errorf("socket mode %v, directory %v; want 0600 and 0700", st.Mode().Perm(), dst.Mode().Perm())
	}
	if _, err := Listen(path); !errors.Is(err, ErrRunning) {
		t.Errorf("a second Listen: %v, want ErrRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l, uint32(os.Getuid())) }()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Sum int }
	if err := c.Call(ctx, "add", addParams{40, 2}, &sum); err != nil || sum.Sum != 42 {
		t.Fatalf("add over the socket: %v %v", sum, err)
	}
	var re *Error
	if err := c.Call(ctx, "nope", nil, nil); !errors.As(err, &re) || re.Code != CodeMethodNotFound {
		t.Errorf("unknown method: %v", err)
	}
	c.Close()
	cancel()
	<-served

	// A daemon that ended leaves its socket: Dial says no daemon, Listen
	// takes the path again.
	if _, err := Dial(path); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial after the daemon ended: %v", err)
	}
}

// A peer of another user gets CodePermission and nothing runs. The peer is
// this process; the server is told its owner is someone else.
func TestSocketRefusesOtherUser(t *testing.T) {
	calls := 0
	s := testServer(&calls)
	path := SocketPath(shortDir(t), "alice@example.org", "/x")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, l, uint32(os.Getuid())+4242)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":1}}` + "\n"))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal([]byte(line), &m)
	if code(m) != CodePermission {
		t.Errorf("another user's request got %q, want code %d", line, CodePermission)
	}
	if calls != 0 {
		t.Errorf("another user's request ran the method")
	}
}

// A socket another user made is not used (as root, the test makes one).
func TestDialRefusesForeignSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipped: only root can give a socket to another user")
	}
	path := SocketPath(shortDir(t), "alice@example.org", "/y")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var fe *ForeignError
	if _, err := Dial(path); !errors.As(err, &fe) || fe.UID != 65534 {
		t.Errorf("Dial of another user's socket: %v, want *ForeignError", err)
	}
}

// Calls from several goroutines on one Client each get their own answer.
func TestClientConcurrentCalls(t *testing.T) {
	s := NewServer()
	s.Handle("echo", func(_ context.Context, _ *Conn, p json.RawMessage) (any, error) {
		var a addParams
		if err := Params(p, &a); err != nil {
			return nil, err
		}
		return map[string]int{"sum": a.A}, nil
	})
	path := SocketPath(shortDir(t), "alice@example.org", "/home/alice/.local/share/ox/alice@example.org")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, l, uint32(os.Getuid()))
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			var got struct{ Sum int }
			err := c.Call(ctx, "echo", addParams{A: i}, &got)
			if err == nil && got.Sum != i {
				err = fmt.Errorf("call %d answered %d", i, got.Sum)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
