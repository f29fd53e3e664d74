package hostile

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// Server accepts connections on 127.0.0.1 and runs the script on each.
type Server struct {
	Addr   string         // 127.0.0.1:port
	Domain string         // "localhost", the name in the certificate
	Roots  *x509.CertPool // trusts the server's certificate

	ln     net.Listener
	cert   tls.Certificate
	script func(*Conn) error

	mu    sync.Mutex
	conns []*Conn
	errs  []error
	wg    sync.WaitGroup
}

// Start listens on a random loopback port and runs script for every
// connection, in its own goroutine; the connection is closed when the script
// returns. t.Cleanup closes the listener, waits for the scripts and reports
// their errors.
func Start(t testing.TB, script func(*Conn) error) *Server {
	t.Helper()
	cert, roots, err := selfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), Domain: "localhost", Roots: roots, ln: ln, cert: cert, script: script}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.raw.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		for _, err := range s.Errors() {
			t.Errorf("hostile server script: %v", err)
		}
	})
	return s
}

// TLSConfig is a client configuration that trusts the server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.Roots, ServerName: s.Domain, MinVersion: tls.VersionTLS12}
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &Conn{raw: raw, cert: s.cert, clearDone: make(chan struct{})}
		c.setReader(io.TeeReader(raw, &c.clear))
		c.Conn = raw
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.script(c)
			c.Close()
			if err != nil && !errors.Is(err, ErrClientGone) {
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}
		}()
	}
}

// Conns are the connections accepted so far.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Conn(nil), s.conns...)
}

// Errors are the scripts' errors so far (a client leaving is not one).
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// ErrClientGone is the client closing the connection while the script
// waited for it.
var ErrClientGone = errors.New("hostile: the client closed the connection")

// Conn is one client connection as the script sees it.
type Conn struct {
	net.Conn // the current transport: TCP, then TLS after StartTLS

	raw  net.Conn
	cert tls.Certificate
	r    io.Reader // the transport as read: through the recorder before TLS
	d    *xml.Decoder

	mu        sync.Mutex
	clear     syncBuffer // every byte read from the client before TLS
	secured   bool
	clearDone chan struct{}
	closeOnce sync.Once
}

func (c *Conn) setReader(r io.Reader) {
	c.r = r
	c.d = xml.NewDecoder(r)
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.clearDone) })
	return c.raw.Close()
}

// Clear is every byte the client sent before TLS; complete once the
// connection is closed (see WaitClosed) or secured.
func (c *Conn) Clear() []byte { return c.clear.Bytes() }

// WaitClosed waits until the script has ended and closed the connection.
func (c *Conn) WaitClosed() { <-c.clearDone }

// Secured says whether StartTLS was completed.
func (c *Conn) Secured() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secured
}

// Send writes s as it is.
func (c *Conn) Send(s string) error {
	_, err := io.WriteString(c.Conn, s)
	return err
}

// OpenStream reads the client's stream header and answers with the
// server's, then sends features (the children of <stream:features>, as
// raw XML).
func (c *Conn) OpenStream(features string) error {
	if err := c.Header(); err != nil {
		return err
	}
	return c.Send("<stream:features>" + features + "</stream:features>")
}

// Header reads the client's stream header and answers with the server's,
// without features.
func (c *Conn) Header() error {
	start, err := c.next()
	if err != nil {
		return err
	}
	if start.Name.Local != "stream" {
		return fmt.Errorf("hostile: expected a stream header, got <%s>", start.Name.Local)
	}
	id := make([]byte, 8)
	rand.Read(id)
	return c.Send(fmt.Sprintf(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='%x'>`, id))
}

// Element is a top-level element the client sent: its name, attributes
// and text content (of it and its children).
type Element struct {
	xml.StartElement
	Text string
}

// Attr is the value of the attribute named local, or "".
func (e Element) Attr(local string) string {
	for _, a := range e.StartElement.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Read reads the next top-level element the client sends.
func (c *Conn) Read() (Element, error) {
	start, err := c.next()
	if err != nil {
		return Element{}, err
	}
	var text bytes.Buffer
	for depth := 1; depth > 0; {
		tok, err := c.d.Token()
		if err != nil {
			return Element{}, c.gone(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(t)
		}
	}
	return Element{StartElement: start, Text: text.String()}, nil
}

// Expect reads the next element and fails unless its local name is local.
func (c *Conn) Expect(local string) (Element, error) {
	e, err := c.Read()
	if err != nil {
		return e, err
	}
	if e.Name.Local != local {
		return e, fmt.Errorf("hostile: expected <%s>, the client sent <%s>", local, e.Name.Local)
	}
	return e, nil
}

// WaitGone reads until the client closes the connection (or the test
// ends), recording and otherwise discarding what it sends.
func (c *Conn) WaitGone() error {
	io.Copy(io.Discard, c.r)
	return nil
}

// StartTLS answers the client's <starttls/> with <proceed/> and runs the
// TLS handshake as the server; later reads and writes go through TLS.
func (c *Conn) StartTLS() error {
	if err := c.Send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return err
	}
	tc := tls.Server(c.raw, &tls.Config{Certificates: []tls.Certificate{c.cert}, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("hostile: TLS handshake: %w", err)
	}
	c.mu.Lock()
	c.secured = true
	c.mu.Unlock()
	c.Conn = tc
	c.setReader(tc)
	return nil
}

func (c *Conn) next() (xml.StartElement, error) {
	for {
		tok, err := c.d.Token()
		if err != nil {
			return xml.StartElement{}, c.gone(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			if t.Name.Local == "stream" {
				return xml.StartElement{}, ErrClientGone
			}
		}
	}
}

func (c *Conn) gone(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return ErrClientGone
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		// The decoder reports the client's close mid-element this way.
		return fmt.Errorf("%w (%v)", ErrClientGone, err)
	}
	return err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.b.Bytes()...)
}

// selfSigned makes a throw-away certificate for name and a pool that
// trusts it.
func selfSigned(name string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
