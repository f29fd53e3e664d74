package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/files"
)

// Encrypted files (package files): ox send --file, ox room send --file and
// ox listen --download.

// httpClient fetches over HTTPS with the XMPP connection's CA settings.
func (o *online) httpClient() *http.Client { return httpsWith(o.tls) }

func httpsWith(t *tls.Config) *http.Client {
	var cfg *tls.Config
	if t != nil {
		cfg = t.Clone()
		cfg.ServerName = "" // the HTTPS host's own name, not the XMPP domain
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}}
}

// httpsClient fetches over HTTPS with the CA settings a connection would
// use (listen through a daemon has no connection of its own).
func (e *env) httpsClient(n *netFlags) (*http.Client, error) {
	cfg, _, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	j, _, err := e.whichAccount()
	if err != nil {
		return nil, err
	}
	ac := cfg.find(j.String())
	if ac == nil {
		ac = &accountConfig{}
	}
	t, err := e.tlsConfig(n, ac)
	if err != nil {
		return nil, err
	}
	return httpsWith(t), nil
}

// progress shows a transfer on a terminal as one line that changes; off a
// terminal it says nothing (JSON progress goes with listen's lines).
func (e *env) progress(what string) (func(done, total int64), func()) {
	if !isTerminal(e.stderr) {
		return nil, func() {}
	}
	var last time.Time
	f := func(done, total int64) {
		if time.Since(last) < 100*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		fmt.Fprintf(e.stderr, "\r%s: %3d%% (%s of %s)", what, pct, humanSize(done), humanSize(total))
	}
	return f, func() { fmt.Fprintln(e.stderr) }
}

// uploadFile encrypts and uploads the file at path and returns the message
// payload that shares it. A file over the server's limit is refused before
// anything is uploaded.
func (e *env) uploadFile(o *online, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, withHint(err, "give a readable file with --file")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, usagef("--file %s is not a regular file", path)
	}
	svc, err := files.Discover(o.ctx, o.client)
	if errors.Is(err, files.ErrNoUploadService) {
		return nil, withHint(err, "ask the server's admin for HTTP File Upload (Prosody: mod_http_file_share; ejabberd: mod_http_upload); nothing was sent")
	}
	if err != nil {
		return nil, err
	}
	show, end := e.progress("ox: uploading " + filepath.Base(path))
	link, err := files.Upload(o.ctx, o.client, svc, filepath.Base(path), st.Size(), f, files.Options{HTTP: o.httpClient(), Progress: show})
	end()
	var tl *files.TooLargeError
	if errors.As(err, &tl) {
		return nil, withHint(err, fmt.Sprintf("the server takes files up to %s; share a smaller one", humanSize(tl.Max)))
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "ox: uploaded %s (%s, encrypted)\n", filepath.Base(path), humanSize(st.Size()))
	return files.Payload(link), nil
}

// downloader fetches the files that listen shows, one at a time, into dir.
type downloader struct {
	e *env
	// ctx and http are set, then ready closed, once connected (again
	// after a reconnection).
	ctx   context.Context
	http  *http.Client
	once  sync.Once
	ready chan struct{} // messages may come before connect returns
	dir   string
	max   int64
	json  bool // progress as JSON event lines on stdout, not a terminal line
	mu    sync.Mutex
}

func newDownloader(e *env, dir string, max int64, asJSON bool) *downloader {
	return &downloader{e: e, dir: dir, max: max, json: asJSON, ready: make(chan struct{})}
}

// jsonProgress writes a file-progress event each tenth of the way.
func (d *downloader) jsonProgress(url string) func(done, total int64) {
	next := int64(0)
	return func(done, total int64) {
		if total <= 0 || done*10 < next*total && done != total {
			return
		}
		next = done*10/total + 1
		feed.Write(d.e.stdout, feed.FileProgress(url, done, total, time.Now()))
	}
}

// connected gives the downloader its connection.
func (d *downloader) connected(o *online) { d.offline(o.ctx, o.httpClient()) }

// offline gives the downloader its HTTPS client without a connection
// (listen through a daemon).
func (d *downloader) offline(ctx context.Context, hc *http.Client) {
	d.mu.Lock()
	d.ctx, d.http = ctx, hc
	d.mu.Unlock()
	d.once.Do(func() { close(d.ready) })
}

// attach fills l's file fields for a message that shares a file, fetching
// it when a directory was given.
func (d *downloader) attach(m *ox.Message, l *feed.Line) {
	link, ok := files.Find(m)
	if !ok {
		return
	}
	l.FileURL = link.URL
	if d == nil || d.dir == "" {
		return
	}
	<-d.ready
	d.mu.Lock()
	defer d.mu.Unlock()
	show, end := d.e.progress("ox: downloading " + filepath.Base(link.URL))
	if d.json {
		show, end = d.jsonProgress(link.URL), func() {}
	}
	p, n, err := files.Download(d.ctx, link, files.DownloadOptions{Options: files.Options{HTTP: d.http, Progress: show}, Dir: d.dir, MaxSize: d.max})
	end()
	if err != nil {
		l.FileError = err.Error()
		return
	}
	l.FilePath, l.FileSize = p, n
}

// parseSize reads 100M, 2G, 512K or a number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size such as 100M, 2G or 512K, not %q", s)
	}
	return n * mult, nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}
