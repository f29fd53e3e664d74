package ox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/upload"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/files"
	"codeberg.org/ox/ox/internal/gosendxmpp"
	"codeberg.org/ox/ox/internal/testenv"
)

// Encrypted files, on each server's own upload service (Prosody's
// mod_http_file_share, ejabberd's mod_http_upload): 10 MB each way with
// the same SHA-256 on arrival, a room file, a file over the service's limit
// refused before anything is uploaded or sent, a tampered ciphertext
// refused with nothing kept, a hostile name made safe.
func TestIntegrationFiles(t *testing.T) {
	testenv.EachServer(t, func(t *testing.T, server string) {
		srv := testenv.StartT(t, server, testenv.Options{Accounts: map[string]string{"alice": "alice-pass", "bob": "bob-pass"}, Upload: true})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		aliceIn, bobIn := make(inbox, 16), make(inbox, 16)
		alice := newDeviceWith(ctx, t, srv, "alice", true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { aliceIn <- m } })
		bob := newDeviceWith(ctx, t, srv, "bob", true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { bobIn <- m } })
		for _, d := range []*device{alice, bob} {
			if _, err := d.Publish(ctx, d.key.Fingerprint); err != nil {
				t.Fatal(err)
			}
			if err := d.Online(ctx); err != nil {
				t.Fatal(err)
			}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.TLSConfig().RootCAs}}}
		opts := files.Options{HTTP: hc}

		svc, err := files.Discover(ctx, alice.Client)
		if err != nil {
			t.Fatal(err)
		}
		if svc.MaxSize != 16<<20 {
			t.Errorf("the service announces %d bytes, want %d", svc.MaxSize, 16<<20)
		}

		// 10 MB each way.
		send := func(from *device, to *device, in inbox, name string, size int) {
			t.Helper()
			data := make([]byte, size)
			rand.Read(data)
			link, err := files.Upload(ctx, from.Client, svc, name, int64(size), bytes.NewReader(data), opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := from.SendPayload(ctx, to.jid, files.Payload(link)); err != nil {
				t.Fatal(err)
			}
			m := in.next(t, "the file's message")
			l, ok := files.Find(m)
			if !ok {
				t.Fatalf("no file in %q (%v)", m.Body, m.Err)
			}
			dir := t.TempDir()
			p, n, err := files.Download(ctx, l, files.DownloadOptions{Options: opts, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if n != int64(size) || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("%s: %d bytes arrived, SHA-256 differs: %v", name, n, sha256.Sum256(got) != sha256.Sum256(data))
			}
			if filepath.Dir(p) != dir {
				t.Fatalf("kept at %s, outside %s", p, dir)
			}
		}
		send(alice, bob, bobIn, "report.pdf", 10_000_000)
		send(bob, alice, aliceIn, "photo.jpg", 10_000_000)

		// A hostile name: kept under a safe one, inside the directory, and
		// a second copy does not overwrite the first.
		data := []byte("not a script")
		link, err := files.Upload(ctx, alice.Client, svc, "../../.bashrc", int64(len(data)), bytes.NewReader(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := files.ParseURL(link)
		dir := t.TempDir()
		p1, _, err := files.Download(ctx, l, files.DownloadOptions{Options: opts, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		p2, _, err := files.Download(ctx, l, files.DownloadOptions{Options: opts, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(p1) != dir || strings.HasPrefix(filepath.Base(p1), ".") || p1 == p2 {
			t.Errorf("hostile name kept as %s and %s", p1, p2)
		}

		// Over the limit: refused before any upload, nothing sent.
		_, err = files.Upload(ctx, alice.Client, svc, "big.iso", 16<<20, failingReader{t}, opts)
		var tl *files.TooLargeError
		if !errors.As(err, &tl) {
			t.Fatalf("over the limit: %v", err)
		}

		// Tampered: a ciphertext changed on the server is refused, and
		// nothing is left in the directory.
		tampered := tamperedUpload(ctx, t, alice, svc, hc)
		dir = t.TempDir()
		if _, _, err := files.Download(ctx, tampered, files.DownloadOptions{Options: opts, Dir: dir}); !errors.Is(err, files.ErrTampered) {
			t.Fatalf("tampered: %v, want ErrTampered", err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("a tampered file left %d entries behind", len(left))
		}
		// Over the receiver's limit: nothing kept either.
		if _, _, err := files.Download(ctx, l, files.DownloadOptions{Options: opts, Dir: dir, MaxSize: 4}); !errors.Is(err, files.ErrTooLarge) {
			t.Fatalf("over the download limit: %v", err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("a refused file left %d entries behind", len(left))
		}

		// A room file: the link goes to the room through the one send path.
		rooms := alice.Rooms
		roomJID := jid.MustParse("files@" + srv.MUCDomain)
		room, err := rooms.Join(ctx, roomJID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Rooms.Join(ctx, roomJID, "bob"); err != nil {
			t.Fatal(err)
		}
		waitOccupants(t, room, 2)
		link, err = files.Upload(ctx, alice.Client, svc, "minutes.txt", 5, strings.NewReader("hello"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rooms.SendPayload(ctx, room, files.Payload(link)); err != nil {
			t.Fatal(err)
		}
		for {
			m := bobIn.next(t, "the room file")
			if m.Room.Equal(jid.JID{}) {
				continue
			}
			l, ok := files.Find(m)
			if !ok {
				t.Fatalf("room message without a file: %q %v", m.Body, m.Err)
			}
			p, _, err := files.Download(ctx, l, files.DownloadOptions{Options: opts, Dir: t.TempDir()})
			if got, _ := os.ReadFile(p); err != nil || string(got) != "hello" || filepath.Base(p) != "minutes.txt" {
				t.Fatalf("room file %s %q %v", p, got, err)
			}
			break
		}
	})
}

// failingReader fails the test if anything reads it: a refused upload
// must not read the file.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("the file was read although it is over the limit")
	return 0, io.EOF
}

// tamperedUpload uploads a good file's ciphertext with one byte changed,
// and returns its link.
func tamperedUpload(ctx context.Context, t *testing.T, d *device, svc files.Service, hc *http.Client) files.Link {
	t.Helper()
	key, iv := make([]byte, 32), make([]byte, 12)
	rand.Read(key)
	rand.Read(iv)
	e, err := files.NewEncrypter(strings.NewReader("the original text"), key, iv)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := io.ReadAll(e)
	ct[3] ^= 0x20
	slot, err := upload.GetSlot(ctx, upload.File{Name: "t.txt", Size: len(ct)}, svc.JID, d.Session)
	if err != nil {
		t.Fatal(err)
	}
	req, err := slot.Put(ctx, bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(ct))
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("upload: %v %v", err, resp)
	}
	resp.Body.Close()
	l, err := files.ParseURL(files.AESGCMURL(slot.GetURL, iv, key))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// go-sendxmpp 0.5.6 (Debian's) sends no files with OX; what ox sends it
// shows as the aesgcm:// link, which is what its user gets (it fetches and
// decrypts none itself).
func TestIntegrationFilesGoSendXMPP(t *testing.T) {
	testenv.EachServer(t, func(t *testing.T, server string) {
		gosendxmpp.Require(t)
		srv := testenv.StartT(t, server, testenv.Options{Accounts: map[string]string{"alice": "alice-pass", "bob": "bob-pass"}, Upload: true})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		peer := gosendxmpp.New(t, srv, "bob", "bob-pass")
		if err := peer.GenerateKey(ctx); err != nil {
			t.Fatal(err)
		}
		alice := newDevice(ctx, t, srv, "alice", true, nil)
		if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		l, err := peer.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Stop()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.TLSConfig().RootCAs}}}
		svc, err := files.Discover(ctx, alice.Client)
		if err != nil {
			t.Fatal(err)
		}
		link, err := files.Upload(ctx, alice.Client, svc, "notes.txt", 5, strings.NewReader("hello"), files.Options{HTTP: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.SendPayload(ctx, srv.JIDParse(t, "bob"), files.Payload(link)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Wait(ctx, link); err != nil {
			t.Fatalf("go-sendxmpp did not show the link: %v\n%s", err, l.Output())
		}
	})
}
