package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Direction is one way through the proxy.
type Direction int

const (
	Up   Direction = iota // client to server
	Down                  // server to client
)

func (d Direction) String() string {
	if d == Up {
		return "client->server"
	}
	return "server->client"
}

// chunkQueue bounds what a direction holds in memory while stalled or
// delayed: beyond it the proxy stops reading, and the sender's kernel
// buffers fill as on a real stalled path.
const chunkQueue = 64

// Proxy forwards TCP connections from Addr to a target. Its methods are
// safe to call from any goroutine.
type Proxy struct {
	Addr   string // 127.0.0.1:port, where clients connect
	Target string // where the proxy connects

	ln net.Listener

	mu       sync.Mutex
	cond     *sync.Cond // signalled when stalled or closed change
	links    map[*link]struct{}
	down     bool // new connections are closed at once
	stalled  [2]bool
	latency  [2]time.Duration
	closed   bool
	accepted int

	bytes   [2]atomic.Int64
	arrived [2]atomic.Int64 // read from the source, delivered or held
	wg      sync.WaitGroup
}

type link struct {
	client, server net.Conn
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// Start listens on a random loopback port and forwards every connection
// to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Target: target, ln: ln, links: make(map[*link]struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// StartT is Start that fails t on error and closes the proxy in t.Cleanup.
func StartT(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		down := p.down || p.closed
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.Target)
	if err != nil {
		client.Close()
		return
	}
	l := &link{client: client, server: server}
	p.mu.Lock()
	if p.closed || p.down {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, Up, client, server) }()
	go func() { defer wg.Done(); p.pipe(l, Down, server, client) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst in one direction: a reader queues chunks with the
// time they are due, a writer delivers them when due and not stalled. When
// either side ends, the whole link is closed, as a real connection would
// end for both.
func (p *Proxy) pipe(l *link, d Direction, src, dst net.Conn) {
	q := make(chan chunk, chunkQueue)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(q)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				p.arrived[d].Add(int64(n))
				p.mu.Lock()
				lat := p.latency[d]
				p.mu.Unlock()
				q <- chunk{data: buf[:n], due: time.Now().Add(lat)}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		l.close()
		for range q { // let the reader, now failing, end
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if !p.waitFlowing(l, d) {
			return
		}
		// Counted before the write, so that a peer which has read the
		// bytes never finds them missing from Bytes; what a failed write
		// did not deliver is taken back.
		p.bytes[d].Add(int64(len(c.data)))
		n, err := dst.Write(c.data)
		if n < len(c.data) {
			p.bytes[d].Add(int64(n - len(c.data)))
		}
		if err != nil {
			return
		}
	}
}

// waitFlowing blocks while direction d is stalled; false when the proxy
// closed or the link was cut meanwhile.
func (p *Proxy) waitFlowing(l *link, d Direction) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled[d] && !p.closed {
		if _, ok := p.links[l]; !ok {
			return false
		}
		p.cond.Wait()
	}
	_, ok := p.links[l]
	return ok && !p.closed
}

// Cut closes every open connection, both sides, as a broken path or a
// server restart would. New connections are still accepted (see SetDown).
// It returns how many it closed.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
		delete(p.links, l)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return len(links)
}

// SetDown takes the path down (true: new connections are closed as soon
// as they are accepted, and open ones are cut) or up again.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.Cut()
	}
}

// Stall stops forwarding in direction d (Down: the server's bytes) while
// every socket stays open: the receiver sees silence, as on a dead path.
// Nothing is lost: what the sender writes meanwhile waits in the proxy
// and the kernel, and flows after Resume; Cut to lose it.
func (p *Proxy) Stall(d Direction) {
	p.mu.Lock()
	p.stalled[d] = true
	p.mu.Unlock()
}

// Resume forwards direction d again.
func (p *Proxy) Resume(d Direction) {
	p.mu.Lock()
	p.stalled[d] = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// SetLatency delays every chunk in direction d by lat from the moment the
// proxy read it (order is kept). A round trip gains the sum of both
// directions' latencies: 25 ms each way adds 50 ms of RTT.
func (p *Proxy) SetLatency(d Direction, lat time.Duration) {
	p.mu.Lock()
	p.latency[d] = lat
	p.mu.Unlock()
}

// Bytes is how many bytes the proxy delivered in direction d so far (a
// chunk counts from the moment it is written: a peer that has read it finds
// it counted).
func (p *Proxy) Bytes(d Direction) int64 { return p.bytes[d].Load() }

// Arrived is how many bytes reached the proxy in direction d so far,
// delivered or held (while stalled): the sender has written them.
func (p *Proxy) Arrived(d Direction) int64 { return p.arrived[d].Load() }

// Accepted is how many connections the proxy accepted so far, including
// those closed at once while down.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open is how many connections are being forwarded now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, cuts every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

var _ io.Closer = (*Proxy)(nil)
