package wkd

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxSize bounds a WKD response: a key with its signatures is a
// few kilobytes; a directory that sends more is broken or hostile.
const DefaultMaxSize = 1 << 20

// DefaultTimeout bounds one lookup, both methods together.
const DefaultTimeout = 30 * time.Second

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: the directory has no key for the address (HTTP 404).
	ErrNotFound = errors.New("wkd: no key for this address in the Web Key Directory")
	// ErrTooLarge: the response exceeds the size limit.
	ErrTooLarge = errors.New("wkd: response too large")
	// ErrAddress: the address is not local@domain.
	ErrAddress = errors.New("wkd: not a mail-style address")
)

// HTTPError: the directory answered with an HTTP status other than 200 or
// 404.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("wkd: %s answered HTTP %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// Method is the WKD method a key was found by.
type Method string

// The two methods of §3.1.
const (
	Advanced Method = "advanced"
	Direct   Method = "direct"
)

// Client looks keys up. The zero value uses the system's CA roots and DNS.
type Client struct {
	// TLSConfig sets the CA roots and other TLS settings (give it the same
	// as the XMPP connection's); nil: the system's. Only HTTPS is used.
	TLSConfig *tls.Config
	// DialContext, when set, makes the TCP connections instead of a
	// net.Dialer (tests point a domain at a loopback server with it). An
	// error wrapping a *net.DNSError that IsNotFound means that the host
	// does not exist.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxSize bounds the response body; zero: DefaultMaxSize.
	MaxSize int64
	// Timeout bounds one Fetch; zero: DefaultTimeout.
	Timeout time.Duration
}

// Result is what Fetch found.
type Result struct {
	// Keys is the response body: binary OpenPGP keys, or ASCII-armored ones
	// from directories that serve them so.
	Keys   []byte
	Method Method
	URL    string
}

// Hash is the WKD hash of a local part (§3.1): the z-base-32 encoding of
// the SHA-1 of the local part with ASCII upper case letters mapped to
// lower case.
func Hash(local string) string {
	sum := sha1.Sum([]byte(asciiLower(local)))
	return zbase32(sum[:])
}

// URLs returns the advanced and the direct method's URL for address.
func URLs(address string) (advanced, direct string, err error) {
	local, domain, err := split(address)
	if err != nil {
		return "", "", err
	}
	h, q := Hash(local), "?l="+url.QueryEscape(local)
	advanced = "https://openpgpkey." + domain + "/.well-known/openpgpkey/" + domain + "/hu/" + h + q
	direct = "https://" + domain + "/.well-known/openpgpkey/hu/" + h + q
	return advanced, direct, nil
}

func split(address string) (local, domain string, err error) {
	address = strings.TrimPrefix(strings.TrimSpace(address), "mailto:")
	i := strings.LastIndexByte(address, '@')
	if i <= 0 || i == len(address)-1 {
		return "", "", fmt.Errorf("%w: %q", ErrAddress, address)
	}
	local, domain = address[:i], asciiLower(address[i+1:])
	if strings.ContainsAny(domain, "/?#:@[] ") || strings.HasPrefix(domain, ".") {
		return "", "", fmt.Errorf("%w: bad domain in %q", ErrAddress, address)
	}
	return local, domain, nil
}

// Fetch looks address up: by the advanced method, then, only when the
// openpgpkey sub-domain does not exist (its name does not resolve, or
// nothing answers on it), by the direct method, as §3.1 says. A
// directory that answers the advanced query with 404 has no key for the
// address: the direct method is not asked then.
func (c *Client) Fetch(ctx context.Context, address string) (*Result, error) {
	adv, dir, err := URLs(address)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := c.httpClient()
	body, err := c.get(ctx, hc, adv)
	if err == nil {
		return &Result{Keys: body, Method: Advanced, URL: adv}, nil
	}
	if !noSuchHost(err) {
		return nil, err
	}
	body, derr := c.get(ctx, hc, dir)
	if derr != nil {
		return nil, derr
	}
	return &Result{Keys: body, Method: Direct, URL: dir}, nil
}

// noSuchHost tells whether err says that the host is not there (no DNS
// name, or no server listening), as opposed to a server that answered.
func noSuchHost(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func (c *Client) httpClient() *http.Client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSConfig != nil {
		cfg = c.TLSConfig.Clone()
	}
	tr := &http.Transport{
		TLSClientConfig:        cfg,
		DialContext:            c.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		Proxy:                  nil,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return fmt.Errorf("wkd: refusing a redirect to %s: only HTTPS is used", req.URL.Redacted())
			}
			if len(via) >= 3 {
				return errors.New("wkd: too many redirects")
			}
			return nil
		},
	}
}

func (c *Client) get(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("wkd: %w", err)
	}
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wkd: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w (%s)", ErrNotFound, u)
	default:
		return nil, &HTTPError{URL: u, Status: resp.StatusCode}
	}
	limit := c.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("wkd: read %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: %s sends more than %d bytes", ErrTooLarge, u, limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w (%s sent an empty answer)", ErrNotFound, u)
	}
	return body, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// zbase32 encodes b in z-base-32 (the alphabet of
// http://philzimmermann.com/docs/human-oriented-base-32-encoding.txt), most
// significant bits first, without padding.
func zbase32(b []byte) string {
	const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"
	var out strings.Builder
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out.WriteByte(alphabet[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		out.WriteByte(alphabet[(acc<<uint(5-bits))&31])
	}
	return out.String()
}
