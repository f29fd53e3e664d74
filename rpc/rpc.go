package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Version is the only JSON-RPC version spoken.
const Version = "2.0"

// Error codes. The first five are JSON-RPC 2.0's own; the others are ox's,
// one per kind of failure, and never change meaning.
const (
	CodeParse          = -32700 // the line is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a request
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603

	CodeFailed      = -32000 // the command failed; the message says why
	CodeOffline     = -32001 // the daemon is not connected to the server now
	CodeNoUsableKey = -32002 // no key of the recipient can be encrypted to
	CodeNotFound    = -32003 // no such key, contact or room
	CodeRefused     = -32004 // the server (or a room) refused
	CodeTimeout     = -32005 // the server did not answer in time
	CodePermission  = -32006 // the peer is not the daemon's user
	// The message was handed to the server, which did not confirm it
	// and no later session could tell: it may have been delivered, and
	// sending it again may deliver it twice. data.id is its id.
	CodeUnknownOutcome = -32007
)

// MaxLine bounds one request line (a batch counts as one line).
const MaxLine = 1 << 20

// Error is a JSON-RPC error object. Message is what the command line prints
// after "ox: error: "; Data, when set, holds {"hint": ...}.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf is an *Error with code and a formatted message.
func Errorf(code int, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// request is a request or a notification as read.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// Handler runs one method. params is the request's params (nil when
// absent); the result is marshalled as the response's result. An error
// that is not an *Error becomes one through the Server's ErrorOf.
type Handler func(ctx context.Context, c *Conn, params json.RawMessage) (any, error)

// Server dispatches requests to its handlers.
type Server struct {
	methods map[string]Handler
	// ErrorOf turns a handler's error into a JSON-RPC error; nil: code
	// CodeFailed with the error's text.
	ErrorOf func(error) *Error
}

// NewServer is a Server without methods.
func NewServer() *Server { return &Server{methods: map[string]Handler{}} }

// Handle registers h for method.
func (s *Server) Handle(method string, h Handler) { s.methods[method] = h }

// Conn is one client's connection to a Server.
type Conn struct {
	mu  sync.Mutex // one line at a time
	w   io.Writer
	err error // the first failed write: the connection is done
	// Close ends the connection (and ServeConn).
	Close func() error
	done  chan struct{}
	once  sync.Once
}

// NewConn is a connection that writes to w.
func NewConn(w io.Writer, close func() error) *Conn {
	return &Conn{w: w, Close: close, done: make(chan struct{})}
}

// Done is closed once ServeConn has returned: the client is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Notify sends a notification (a request without id): method and params.
func (c *Conn) Notify(method string, params any) error {
	return c.write(notification{JSONRPC: Version, Method: method, Params: params})
}

func (c *Conn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeRaw(append(b, '\n'))
}

func (c *Conn) writeRaw(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if _, err := c.w.Write(b); err != nil {
		c.err = err
		return err
	}
	return nil
}

// ServeConn reads requests from r, one line each, and answers on c until r
// ends or ctx does. A line that is not JSON gets a parse error and the
// connection goes on; a line longer than MaxLine ends it.
func (s *Server) ServeConn(ctx context.Context, c *Conn, r io.Reader) error {
	defer c.once.Do(func() { close(c.done) })
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if out := s.line(ctx, c, line); out != nil {
			if err := c.writeRaw(append(out, '\n')); err != nil {
				return err
			}
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		c.write(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeInvalidRequest, "request longer than %d bytes", MaxLine)})
	}
	return sc.Err()
}

// line answers one line: a request, a notification, or a batch; nil when
// nothing is to be answered (notifications only).
func (s *Server) line(ctx context.Context, c *Conn, line []byte) []byte {
	if line[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(line, &batch); err != nil {
			return mustMarshal(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeParse, "parse error: %v", err)})
		}
		if len(batch) == 0 {
			return mustMarshal(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeInvalidRequest, "empty batch")})
		}
		var out []json.RawMessage
		for _, b := range batch {
			if r := s.one(ctx, c, b); r != nil {
				out = append(out, mustMarshal(r))
			}
		}
		if len(out) == 0 {
			return nil
		}
		return mustMarshal(out)
	}
	if !json.Valid(line) {
		return mustMarshal(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeParse, "parse error: not JSON")})
	}
	if r := s.one(ctx, c, line); r != nil {
		return mustMarshal(r)
	}
	return nil
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // a result that cannot be marshalled: a bug in a handler
		b, _ = json.Marshal(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeInternal, "internal error: %v", err)})
	}
	return b
}

// one runs one request; nil for a notification.
func (s *Server) one(ctx context.Context, c *Conn, raw json.RawMessage) *response {
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return &response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeInvalidRequest, "invalid request: %v", err)}
	}
	id := req.ID
	if len(id) == 0 {
		id = nil
	} else if !validID(id) {
		return &response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodeInvalidRequest, "invalid request: the id must be a string, a number or null")}
	}
	reply := func(result any, e *Error) *response {
		if id == nil {
			return nil // a notification is never answered
		}
		return &response{JSONRPC: Version, ID: id, Result: result, Error: e}
	}
	if req.JSONRPC != Version || req.Method == nil {
		if id == nil {
			id = json.RawMessage("null")
		}
		return &response{JSONRPC: Version, ID: id, Error: Errorf(CodeInvalidRequest, `invalid request: want {"jsonrpc": "2.0", "method": ..., "id": ...}`)}
	}
	if p := bytes.TrimSpace(req.Params); len(p) > 0 && p[0] != '{' && p[0] != '[' {
		return reply(nil, Errorf(CodeInvalidParams, "invalid params: want an object"))
	}
	h, ok := s.methods[*req.Method]
	if !ok {
		return reply(nil, Errorf(CodeMethodNotFound, "unknown method %q", *req.Method))
	}
	result, err := h(ctx, c, req.Params)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			if s.ErrorOf != nil {
				e = s.ErrorOf(err)
			} else {
				e = &Error{Code: CodeFailed, Message: err.Error()}
			}
		}
		return reply(nil, e)
	}
	if result == nil {
		result = struct{}{}
	}
	return reply(result, nil)
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// Params decodes params into v, strictly: an unknown field, a wrong type
// or missing params is CodeInvalidParams.
func Params(params json.RawMessage, v any) error {
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	d := json.NewDecoder(bytes.NewReader(params))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return Errorf(CodeInvalidParams, "invalid params: %v", err)
	}
	return nil
}
