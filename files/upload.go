package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/items"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/upload"

	"codeberg.org/ox/ox"
)

// Service is the account's HTTP File Upload service (XEP-0363).
type Service struct {
	JID jid.JID
	// MaxSize is the largest file it takes, in bytes (of the upload, so
	// of the encrypted file); 0 when it announces no limit.
	MaxSize int64
}

// ErrNoUploadService: the server offers no HTTP File Upload (XEP-0363).
var ErrNoUploadService = errors.New("files: the server offers no HTTP File Upload service (XEP-0363)")

// TooLargeError: the file is larger than the upload service takes; nothing
// was uploaded or sent.
type TooLargeError struct {
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("files: the file is %d bytes encrypted, over the %d bytes the server's upload service takes; nothing was uploaded or sent", e.Size, e.Max)
}

// Discover finds the upload service among the items of the account's
// server (XEP-0363 §2: disco#items, then disco#info of each).
func Discover(ctx context.Context, c *ox.Client) (Service, error) {
	if c.Session == nil {
		return Service{}, ox.ErrOffline
	}
	ctx, cancel := c.Request(ctx)
	defer cancel()
	domain := c.JID().Domain()
	candidates := []jid.JID{domain}
	iter := disco.FetchItems(ctx, items.Item{JID: domain}, c.Session)
	for iter.Next() {
		candidates = append(candidates, iter.Item().JID)
	}
	err := iter.Err()
	iter.Close()
	if err != nil {
		return Service{}, c.RequestError(ctx, fmt.Errorf("files: list the server's services: %w", err))
	}
	for _, j := range candidates {
		info, err := disco.GetInfo(ctx, "", j, c.Session)
		if err != nil {
			if ctx.Err() != nil {
				return Service{}, c.RequestError(ctx, err)
			}
			continue
		}
		found := false
		for _, f := range info.Features {
			if f.Var == upload.NS {
				found = true
			}
		}
		if !found {
			continue
		}
		s := Service{JID: j}
		for i := range info.Form {
			if v, ok := info.Form[i].Raw("max-file-size"); ok && len(v) > 0 {
				if n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64); err == nil && n > 0 {
					s.MaxSize = n
				}
			}
		}
		return s, nil
	}
	return Service{}, ErrNoUploadService
}

// Options say how files travel over HTTPS.
type Options struct {
	// HTTP is the client for uploads and downloads; its TLS settings should
	// be the XMPP connection's (the same CA). nil: http.DefaultClient.
	HTTP *http.Client
	// Progress, when set, is told of the bytes done of total as they go.
	Progress func(done, total int64)
}

func (o Options) client() *http.Client {
	if o.HTTP != nil {
		return o.HTTP
	}
	return http.DefaultClient
}

// Upload encrypts the file (size bytes from r) with a new key and IV as it
// streams it to a slot of svc, and returns its aesgcm:// URL (XEP-0454),
// which holds the key: send it only inside an encrypted message. A file
// over the service's limit is refused before anything is uploaded.
func Upload(ctx context.Context, c *ox.Client, svc Service, name string, size int64, r io.Reader, o Options) (string, error) {
	enc := EncryptedSize(size)
	if svc.MaxSize > 0 && enc > svc.MaxSize {
		return "", &TooLargeError{Size: enc, Max: svc.MaxSize}
	}
	var key [32]byte
	var iv [12]byte
	if _, err := rand.Read(key[:]); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv[:]); err != nil {
		return "", err
	}
	slotName := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if slotName == "." || slotName == "/" || slotName == "" {
		slotName = "file"
	}
	rctx, cancel := c.Request(ctx)
	slot, err := upload.GetSlot(rctx, upload.File{Name: slotName, Size: int(enc), Type: "application/octet-stream"}, svc.JID, c.Session)
	err = c.RequestError(rctx, err)
	cancel()
	if err != nil {
		return "", fmt.Errorf("files: the upload service gave no slot: %w", err)
	}
	if slot.PutURL == nil || slot.GetURL == nil || slot.PutURL.Scheme != "https" || slot.GetURL.Scheme != "https" {
		return "", errors.New("files: the upload service gave a slot that is not HTTPS; nothing was uploaded")
	}
	e, err := NewEncrypter(r, key[:], iv[:])
	if err != nil {
		return "", err
	}
	body := io.Reader(e)
	if o.Progress != nil {
		body = &progressReader{r: e, total: enc, f: o.Progress}
	}
	req, err := slot.Put(ctx, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = enc
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := o.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("files: upload: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("files: upload to %s refused by the server: %s", slot.PutURL.Redacted(), resp.Status)
	}
	return AESGCMURL(slot.GetURL, iv[:], key[:]), nil
}

// AESGCMURL is the XEP-0454 form of a file's address: the HTTPS URL with
// the scheme aesgcm and the IV and the key, in hex, as its fragment.
func AESGCMURL(get *url.URL, iv, key []byte) string {
	u := *get
	u.Scheme = "aesgcm"
	u.Fragment, u.RawFragment = "", ""
	return u.String() + "#" + hex.EncodeToString(iv) + hex.EncodeToString(key)
}

// Link is a file's address as a message carries it.
type Link struct {
	URL string // the https:// URL to fetch
	IV  []byte // 12 bytes (16 from some older clients)
	Key []byte // 32 bytes
}

// ParseURL reads an aesgcm:// URL (XEP-0454). The fragment is the IV and
// then the key, in hex: 12+32 bytes, or 16+32 as some older clients send.
func ParseURL(s string) (Link, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return Link{}, fmt.Errorf("files: not a URL: %w", err)
	}
	if u.Scheme != "aesgcm" {
		return Link{}, errors.New("files: not an aesgcm:// URL")
	}
	frag, err := hex.DecodeString(u.Fragment)
	if err != nil || (len(frag) != 44 && len(frag) != 48) {
		return Link{}, errors.New("files: the aesgcm:// URL's fragment is not an IV and a key in hex")
	}
	if u.Host == "" {
		return Link{}, errors.New("files: the aesgcm:// URL has no host")
	}
	ivLen := len(frag) - 32
	u.Scheme, u.Fragment, u.RawFragment = "https", "", ""
	return Link{URL: u.String(), IV: frag[:ivLen], Key: frag[ivLen:]}, nil
}

type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	f     func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if n > 0 {
		p.f(p.done, p.total)
	}
	return n, err
}
