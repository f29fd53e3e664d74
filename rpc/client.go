package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Notification is a notification the server sent.
type Notification struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// ErrClosed: the connection to the server ended.
var ErrClosed = errors.New("rpc: the connection to the daemon ended")

// Client calls a Server's methods over one connection.
type Client struct {
	rwc  io.ReadWriteCloser
	conn *Conn

	mu      sync.Mutex
	next    int64
	pending map[string]chan *reply
	err     error // why reading ended

	notes chan Notification
	done  chan struct{}
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// NewClient reads rwc's responses and notifications; notifications go to
// Notifications, which is closed when the connection ends. A reader that
// does not keep up with notifications holds the connection back.
func NewClient(rwc io.ReadWriteCloser) *Client {
	c := &Client{rwc: rwc, conn: NewConn(rwc, rwc.Close), pending: map[string]chan *reply{}, notes: make(chan Notification, 256), done: make(chan struct{})}
	go c.read()
	return c
}

// Notifications are the server's notifications, in order.
func (c *Client) Notifications() <-chan Notification { return c.notes }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection.
func (c *Client) Close() error { return c.rwc.Close() }

func (c *Client) read() {
	defer close(c.done)
	defer close(c.notes)
	sc := bufio.NewScanner(c.rwc)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var m struct {
			reply
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // not ours to answer: a client does not take requests
		}
		if m.Method != "" {
			c.notes <- Notification{Method: m.Method, Params: m.Params}
			continue
		}
		c.mu.Lock()
		ch := c.pending[string(m.ID)]
		delete(c.pending, string(m.ID))
		c.mu.Unlock()
		if ch != nil {
			r := m.reply
			ch <- &r
		}
	}
	c.mu.Lock()
	c.err = ErrClosed
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// Call calls method with params and decodes the result into result (which
// may be nil). A JSON-RPC error is returned as *Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.next++
	n := c.next // read under the lock: calls from several goroutines each get their own id
	id := strconv.FormatInt(n, 10)
	ch := make(chan *reply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	req := struct {
		JSONRPC string `json:"jsonrpc"`
		ID      int64  `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{Version, n, method, params}
	if err := c.conn.write(req); err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return ErrClosed
		}
		if r.Error != nil {
			return r.Error
		}
		if result != nil && len(r.Result) > 0 {
			if err := json.Unmarshal(r.Result, result); err != nil {
				return fmt.Errorf("rpc: %s's result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}
