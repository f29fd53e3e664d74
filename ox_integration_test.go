package ox_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/mam"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/wot"
)

const testTimeout = 60 * time.Second

// device is one ox installation (its own store) logged in to an account.
type device struct {
	*ox.Client
	// The features, on the Client before it is served.
	Rooms   *muc.Rooms
	Archive *mam.Archive
	WoT     *wot.WoT
	jid     jid.JID
	key     pgp.KeyInfo
	close   func()
	once    sync.Once
}

// newDevice logs local in with a fresh store; with keygen it makes a key.
func newDevice(ctx context.Context, t *testing.T, srv *testenv.Server, local string, keygen bool, f ox.EventFunc) *device {
	t.Helper()
	return newDeviceAt(ctx, t, srv, local, t.TempDir(), keygen, func(c *ox.Client) { c.OnMessage = nil }, f)
}

// newDeviceWith is newDevice with a chance to set the client up before it
// is served.
func newDeviceWith(ctx context.Context, t *testing.T, srv *testenv.Server, local string, keygen bool, setup func(*ox.Client)) *device {
	t.Helper()
	return newDeviceAt(ctx, t, srv, local, t.TempDir(), keygen, setup, nil)
}

// newDeviceAt logs local in with the store in dir (a device that comes
// back keeps its store).
func newDeviceAt(ctx context.Context, t *testing.T, srv *testenv.Server, local, dir string, keygen bool, setup func(*ox.Client), f ox.EventFunc) *device {
	t.Helper()
	return newDeviceVia(ctx, t, srv, srv.Addr, local, dir, keygen, setup, f)
}

// newDeviceVia is newDeviceAt connecting to addr (a proxy before the
// server).
func newDeviceVia(ctx context.Context, t *testing.T, srv *testenv.Server, addr, local, dir string, keygen bool, setup func(*ox.Client), f ox.EventFunc) *device {
	t.Helper()
	d, _ := newDeviceDialed(ctx, t, srv, local, dir, keygen, setup, f, func(a *ox.Account) { a.Server = addr })
	return d
}

// newDeviceDialed is newDeviceAt with the account as account sets it, and
// what the login negotiated.
func newDeviceDialed(ctx context.Context, t *testing.T, srv *testenv.Server, local, dir string, keygen bool, setup func(*ox.Client), f ox.EventFunc, account func(*ox.Account)) (*device, ox.Negotiated) {
	t.Helper()
	st, err := store.Open(ctx, filepath.Join(dir, "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Account(local, local+"-pass", "", false)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	account(&a)
	s, neg, err := ox.DialNegotiated(ctx, a)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	c := ox.NewClient(s, native.New(st), st)
	d := newFeatured(c)
	if setup != nil {
		setup(c)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(f) }()
	d.close = func() {
		testenv.CloseSession(s)
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: Serve did not return", local)
		}
		c.Close()
		st.Close()
	}
	t.Cleanup(func() { d.Close(t) })
	if keygen {
		d.key, err = c.Backend.Generate(ctx, d.jid, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
		if err != nil {
			t.Fatal(err)
		}
	}
	return d, neg
}

// newFeatured is a device for c with the features (rooms, the archive, the
// web of trust) given to it; c is not served yet.
func newFeatured(c *ox.Client) *device {
	return &device{Client: c, jid: c.JID(), Rooms: muc.New(c), Archive: mam.New(c), WoT: wot.New(c)}
}

// Close logs the device out (once).
func (d *device) Close(t *testing.T) {
	d.once.Do(d.close)
}

// startServerOn starts the server named name (testenv.Prosody or
// testenv.Ejabberd) with an account NAME/NAME-pass for each user.
func startServerOn(t *testing.T, name string, users ...string) *testenv.Server {
	return testenv.StartT(t, name, testenv.Users(users...))
}

// startServer is startServerOn Prosody, for tests that run on one server
// only; onEachServer runs a test on both.
func startServer(t *testing.T, users ...string) *testenv.Server {
	return startServerOn(t, testenv.Prosody, users...)
}

// onEachServer runs test on a fresh server of each kind with an account
// NAME/NAME-pass for each user, in subtests named after the servers.
func onEachServer(t *testing.T, test func(*testing.T, *testenv.Server), users ...string) {
	testenv.ForEachServer(t, testenv.Users(users...), test)
}

func TestIntegrationPublishAndFetch(t *testing.T) {
	testenv.EachServer(t, testIntegrationPublishAndFetch)
}

func testIntegrationPublishAndFetch(t *testing.T, server string) {
	for _, layout := range []ox.Layout{ox.LayoutSpec, ox.LayoutCompact} {
		name := map[ox.Layout]string{ox.LayoutSpec: "spec", ox.LayoutCompact: "compact"}[layout]
		t.Run(name, func(t *testing.T) {
			srv := startServerOn(t, server, "alice", "bob")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			alice := newDevice(ctx, t, srv, "alice", true, nil)
			alice.Layout = layout
			rep, err := alice.Publish(ctx, alice.key.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			if rep.AccessModel != "open" {
				t.Errorf("access model %q, want open (fallback: %q %q)", rep.AccessModel, rep.Data.Fallback, rep.Metadata.Fallback)
			}
			if want := []string{alice.key.Fingerprint.String()}; !slices.Equal(rep.Announced, want) {
				t.Errorf("announced %v, want %v", rep.Announced, want)
			}

			// bob, with no presence subscription, fetches alice's key.
			bob := newDevice(ctx, t, srv, "bob", true, nil)
			fr, err := bob.Fetch(ctx, alice.jid)
			if err != nil {
				t.Fatal(err)
			}
			if len(fr.Imported) != 1 || fr.Imported[0].Fingerprint != alice.key.Fingerprint {
				t.Fatalf("imported %+v, rejected %+v", fr.Imported, fr.Rejected)
			}
			if got := fr.Imported[0].UserIDs; !slices.Equal(got, []string{"xmpp:alice@localhost"}) {
				t.Errorf("user IDs %v", got)
			}
			// Only what changed is fetched again.
			fr, err = bob.Fetch(ctx, alice.jid)
			if err != nil || len(fr.Imported) != 0 || len(fr.Unchanged) != 1 {
				t.Fatalf("second fetch: %+v %v", fr, err)
			}
			if layout == ox.LayoutCompact {
				items, err := pep.Items(ctx, bob.Session, alice.jid, element.NodePublicKeys, 0)
				if err != nil || len(items) != 1 || items[0].ID != "current" {
					t.Errorf("compact metadata node: %+v %v", items, err)
				}
			}

			// A second device of alice publishes its own key: neither drops
			// the other from the metadata list.
			laptop := newDevice(ctx, t, srv, "alice", true, nil)
			laptop.Layout = layout
			rep2, err := laptop.Publish(ctx, laptop.key.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{alice.key.Fingerprint.String(), laptop.key.Fingerprint.String()}
			if !slices.Equal(rep2.Announced, want) {
				t.Fatalf("after the second device: %v, want %v", rep2.Announced, want)
			}
			// Republishing the first (a renewal) keeps the second.
			rep3, err := alice.Publish(ctx, alice.key.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep3.Announced) != 2 {
				t.Fatalf("after republishing: %v", rep3.Announced)
			}
			fr, err = bob.Fetch(ctx, alice.jid)
			if err != nil || len(fr.Announced) != 2 {
				t.Fatalf("bob sees %+v %v", fr, err)
			}
			got, _ := bob.Announced(ctx, alice.jid)
			if len(got) != 2 {
				t.Errorf("bob records %v", got)
			}

			// Unpublishing the laptop's key leaves the first.
			if err := laptop.Unpublish(ctx, laptop.key.Fingerprint); err != nil {
				t.Fatal(err)
			}
			fr, err = bob.Fetch(ctx, alice.jid)
			if err != nil || !slices.Equal(fr.Announced, []string{alice.key.Fingerprint.String()}) {
				t.Fatalf("after unpublish: %+v %v", fr, err)
			}
			// Prosody answers forbidden for a node that does not exist.
			if _, err := pep.Items(ctx, bob.Session, alice.jid, element.DataNode(laptop.key.Fingerprint.String()), 1); !errors.Is(err, pep.ErrNotFound) && !errors.Is(err, pep.ErrForbidden) {
				t.Errorf("the laptop's data node is still there: %v", err)
			}
		})
	}
}

// Keys that do not match their node, or lack the contact's user ID, are
// not imported, and nothing unknown is published by mistake.
func TestIntegrationFetchRejectsWrongKeys(t *testing.T) {
	onEachServer(t, testIntegrationFetchRejectsWrongKeys, "alice", "bob", "mallory")
}

func testIntegrationFetchRejectsWrongKeys(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := newDevice(ctx, t, srv, "alice", true, nil)
	mallory := newDevice(ctx, t, srv, "mallory", true, nil)
	// mallory announces alice's key under her own account: the key does
	// not carry xmpp:mallory@localhost.
	alicePub, err := alice.Backend.ExportPublic(ctx, alice.key.Fingerprint, &alice.jid)
	if err != nil {
		t.Fatal(err)
	}
	fpr := alice.key.Fingerprint.String()
	if _, err := pep.Publish(ctx, mallory.Session, element.DataNode(fpr), "", element.PubKey{Data: alicePub}.Marshal(), pep.Options{"pubsub#access_model": "open"}); err != nil {
		t.Fatal(err)
	}
	// and a data node holding another key than its name says.
	malloryPub, err := mallory.Backend.ExportPublic(ctx, mallory.key.Fingerprint, &mallory.jid)
	if err != nil {
		t.Fatal(err)
	}
	fake := "0123456789ABCDEF0123456789ABCDEF01234567"
	if _, err := pep.Publish(ctx, mallory.Session, element.DataNode(fake), "", element.PubKey{Data: malloryPub}.Marshal(), pep.Options{"pubsub#access_model": "open"}); err != nil {
		t.Fatal(err)
	}
	list := element.PublicKeysList{Keys: []element.PubKeyMetadata{{Fingerprint: fpr, Date: time.Now()}, {Fingerprint: fake, Date: time.Now()}}}
	if _, err := pep.Publish(ctx, mallory.Session, element.NodePublicKeys, "", list.Marshal(), pep.Options{"pubsub#access_model": "open"}); err != nil {
		t.Fatal(err)
	}
	bob := newDevice(ctx, t, srv, "bob", true, nil)
	fr, err := bob.Fetch(ctx, mallory.jid)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Imported) != 0 || len(fr.Rejected) != 2 {
		t.Fatalf("imported %+v, rejected %+v", fr.Imported, fr.Rejected)
	}
	if ks, _ := bob.Backend.Lookup(ctx, mallory.jid); len(ks) != 0 {
		t.Errorf("bob stored %d keys for mallory", len(ks))
	}
	if _, err := bob.Backend.Key(ctx, alice.key.Fingerprint); !errors.Is(err, pgp.ErrNotFound) {
		t.Errorf("alice's key was stored from mallory's node: %v", err)
	}
	// Nothing published at all.
	if _, err := bob.Fetch(ctx, jid.MustParse("nobody@localhost")); !errors.Is(err, ox.ErrNoKeysPublished) {
		t.Errorf("fetch from an account without keys: %v", err)
	}
}

// A contact learns of a key change through a PEP notification, with the
// metadata in it (spec layout) or id-only (compact: notification-only).
func TestIntegrationKeyChangeNotification(t *testing.T) {
	testenv.EachServer(t, testIntegrationKeyChangeNotification)
}

func testIntegrationKeyChangeNotification(t *testing.T, server string) {
	for _, layout := range []ox.Layout{ox.LayoutSpec, ox.LayoutCompact} {
		t.Run(map[ox.Layout]string{ox.LayoutSpec: "spec", ox.LayoutCompact: "compact"}[layout], func(t *testing.T) {
			srv := startServerOn(t, server, "alice", "bob")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			alice := newDevice(ctx, t, srv, "alice", true, nil)
			alice.Layout = layout
			type seen struct {
				rep *ox.FetchReport
				err error
			}
			events := make(chan seen, 8)
			bob := newDevice(ctx, t, srv, "bob", true, func(_ context.Context, ev pep.Event, rep *ox.FetchReport, err error) {
				events <- seen{rep, err}
			})
			if err := prosody.SubscribeMutually(ctx, alice.Session, bob.Session); err != nil {
				t.Fatal(err)
			}
			if err := bob.Online(ctx); err != nil {
				t.Fatal(err)
			}
			if err := alice.Online(ctx); err != nil {
				t.Fatal(err)
			}
			// Let the server ask bob's capabilities before alice publishes.
			time.Sleep(300 * time.Millisecond)
			if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			deadline := time.After(15 * time.Second)
			for {
				select {
				case s := <-events:
					mu.Lock()
					if s.err != nil {
						t.Fatalf("following the notification: %v", s.err)
					}
					if s.rep != nil && len(s.rep.Imported) == 1 && s.rep.Imported[0].Fingerprint == alice.key.Fingerprint {
						mu.Unlock()
						ks, _ := bob.Backend.Lookup(ctx, alice.jid)
						if len(ks) != 1 {
							t.Errorf("bob holds %d keys for alice", len(ks))
						}
						return
					}
					mu.Unlock()
				case <-deadline:
					t.Fatal("bob was not told of alice's new key within 15 s")
				}
			}
		})
	}
}

func TestIntegrationBackup(t *testing.T) { testenv.EachServer(t, testIntegrationBackup) }

func testIntegrationBackup(t *testing.T, server string) {
	for _, layout := range []ox.Layout{ox.LayoutSpec, ox.LayoutCompact} {
		t.Run(map[ox.Layout]string{ox.LayoutSpec: "spec", ox.LayoutCompact: "compact"}[layout], func(t *testing.T) {
			srv := startServerOn(t, server, "alice", "bob")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			fresh := newDevice(ctx, t, srv, "alice", false, nil)
			fresh.Layout = layout
			if _, err := fresh.BackupRestore(ctx, "ABCD-EFGH-IJKL-MNPQ-RSTU-VWXY"); !errors.Is(err, ox.ErrNoBackup) {
				t.Fatalf("restore with no backup: %v", err)
			}
			alice := newDevice(ctx, t, srv, "alice", true, nil)
			alice.Layout = layout
			code, err := alice.BackupPush(ctx, alice.key.Fingerprint, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := backup.ParseCode(string(code)); err != nil || len(code) != 29 {
				t.Fatalf("code %q: %v", code, err)
			}
			// Another account cannot read it.
			bob := newDevice(ctx, t, srv, "bob", true, nil)
			if _, err := pep.Items(ctx, bob.Session, alice.jid, element.NodeSecretKey, 0); err == nil {
				t.Error("bob read alice's secret key node")
			}
			// A wrong code fails and stores nothing.
			wrong, _ := backup.NewCode()
			if _, err := fresh.BackupRestore(ctx, wrong); !errors.Is(err, backup.ErrWrongCode) {
				t.Fatalf("wrong code: %v", err)
			}
			if ks, _ := fresh.Backend.List(ctx); len(ks) != 0 {
				t.Fatalf("a wrong code stored %d keys", len(ks))
			}
			ks, err := fresh.BackupRestore(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			if len(ks) != 1 || ks[0].Fingerprint != alice.key.Fingerprint || !ks[0].Secret {
				t.Fatalf("restored %+v", ks)
			}
			// The restored key works: it signs what alice's key verifies.
			if _, err := fresh.Backend.Seal(ctx, []byte("x"), pgp.SealOptions{Signer: ks[0].Fingerprint}); err != nil {
				t.Errorf("restored key cannot sign: %v", err)
			}
			// A second device's backup never silently replaces the first.
			laptop := newDevice(ctx, t, srv, "alice", true, nil)
			laptop.Layout = layout
			code2, err := laptop.BackupPush(ctx, laptop.key.Fingerprint, false)
			if layout == ox.LayoutSpec {
				if !errors.Is(err, ox.ErrBackupExists) {
					t.Fatalf("second push: %v, want ErrBackupExists", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Compact: one item per key; each code opens its own.
			for _, c := range []struct {
				code backup.Code
				fpr  pgp.Fingerprint
			}{{code, alice.key.Fingerprint}, {code2, laptop.key.Fingerprint}} {
				d := newDevice(ctx, t, srv, "alice", false, nil)
				d.Layout = layout
				ks, err := d.BackupRestore(ctx, c.code)
				if err != nil || len(ks) != 1 || ks[0].Fingerprint != c.fpr {
					t.Errorf("restore %s: %+v %v", c.fpr, ks, err)
				}
			}
		})
	}
}
