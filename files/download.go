package files

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
)

// DefaultMaxDownload is the largest file Download keeps unless told
// otherwise.
const DefaultMaxDownload = 100 << 20

// Payload is the <payload/> content of a message that shares a file: the
// aesgcm:// URL as the body, which is what Gajim, Profanity, Conversations
// and go-sendxmpp show and open, and in an XEP-0066 <x/> as Gajim adds.
func Payload(aesgcmURL string) []byte {
	var b bytes.Buffer
	b.Write(element.BodyPayload(aesgcmURL))
	b.WriteString(`<x xmlns="jabber:x:oob"><url>`)
	xml.EscapeText(&b, []byte(aesgcmURL))
	b.WriteString(`</url></x>`)
	return b.Bytes()
}

// Find returns the file a message shares: its body is one aesgcm:// URL.
func Find(m *ox.Message) (Link, bool) {
	body := strings.TrimSpace(m.Body)
	if m.Err != nil || !strings.HasPrefix(body, "aesgcm://") || strings.ContainsAny(body, " \t\r\n") {
		return Link{}, false
	}
	l, err := ParseURL(body)
	return l, err == nil
}

// DownloadOptions say where and how much.
type DownloadOptions struct {
	Options
	Dir     string // where the file is kept
	MaxSize int64  // the largest file kept; 0: DefaultMaxDownload
}

// Download fetches the file over HTTPS, decrypts it as it arrives into a
// temporary file in Dir, checks its GCM tag, and only then keeps it, under
// its own name made safe (no directories, no "..", no control characters)
// and never over an existing file (a new name instead: "name (1).ext").
// A tampered or damaged file is ErrTampered and nothing is kept; one over
// MaxSize is ErrTooLarge and nothing is kept.
func Download(ctx context.Context, l Link, o DownloadOptions) (string, int64, error) {
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme != "https" {
		return "", 0, errors.New("files: only HTTPS URLs are fetched")
	}
	limit := o.MaxSize
	if limit <= 0 {
		limit = DefaultMaxDownload
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("files: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("files: download: the server answered %s", resp.Status)
	}
	if resp.ContentLength > EncryptedSize(limit) {
		return "", 0, fmt.Errorf("%w: %d bytes, over the %d allowed", ErrTooLarge, resp.ContentLength-tagSize, limit)
	}
	tmp, err := os.CreateTemp(o.Dir, ".ox-download-*")
	if err != nil {
		return "", 0, err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var body io.Reader = io.LimitReader(resp.Body, EncryptedSize(limit)+1)
	if o.Progress != nil {
		body = &progressReader{r: body, total: resp.ContentLength, f: o.Progress}
	}
	n, err := Decrypt(tmp, body, l.Key, l.IV, limit)
	if err != nil {
		return "", n, err
	}
	if err := tmp.Close(); err != nil {
		return "", n, err
	}
	name := SafeName(lastElement(u))
	for i := 0; ; i++ {
		p := filepath.Join(o.Dir, numbered(name, i))
		// A hard link never replaces an existing file.
		err := os.Link(tmp.Name(), p)
		if err == nil {
			os.Remove(tmp.Name())
			keep = true
			return p, n, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", n, err
		}
	}
}

func lastElement(u *url.URL) string {
	p := u.Path
	if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// SafeName makes a file name from what a sender or a server chose: the
// last path element only, no control or separator characters, no leading
// dots (so neither "..", nor a hidden file), at most 200 bytes; "file"
// when nothing is left.
func SafeName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '\\' || r == ':' || r == 0 {
			return '_'
		}
		return r
	}, s)
	s = strings.TrimLeft(strings.TrimSpace(s), ".")
	for len(s) > 200 {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	if s == "" {
		return "file"
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// numbered is name for i = 0, else "base (i).ext".
func numbered(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + " (" + strconv.Itoa(i) + ")" + ext
}
