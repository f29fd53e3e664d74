package wkd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/internal/wkdtest"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/wkd"
)

func nativeBackend(t *testing.T) pgp.Backend {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return native.New(st)
}

func gnupgBackend(t *testing.T) pgp.Backend {
	t.Helper()
	gpgtest.Require(t)
	b, err := gnupg.New(gnupg.Options{Home: gpgtest.Home(t)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJID(t *testing.T, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// publisher makes a key for the JID with a mail user ID beside its xmpp:
// one, as someone who publishes it in a WKD has, and returns the whole
// public key.
func publisher(t *testing.T, b pgp.Backend, account, mail string) (pgp.Fingerprint, []byte) {
	t.Helper()
	ctx := context.Background()
	k, err := b.Generate(ctx, mustJID(t, account), pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(pgp.UserIDAdder).AddUserID(ctx, k.Fingerprint, mail); err != nil {
		t.Fatal(err)
	}
	pub, err := b.ExportPublic(ctx, k.Fingerprint, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.Fingerprint, pub
}

// A real WKD (nginx over HTTPS with a throw-away CA, trees made by
// gpg-wks-client) answers both methods; ox takes a key for a JID only when
// it carries the JID's xmpp: user ID, on both backends.
func TestIntegrationWKD(t *testing.T) {
	srv := wkdtest.Start(t, "example.org", "example.net")
	srv.WithoutAdvanced("example.net")
	ctx := context.Background()
	pubs := gnupgBackend(t) // go-crypto takes no "Name <mail>" user ID whole
	write := func(name string, data []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// alice publishes with gpg-wks-client, which keeps only the mail user
	// ID: the key cannot be taken for xmpp:alice@example.org.
	aliceFpr, alicePub := publisher(t, pubs, "alice@example.org", "Alice <alice@example.org>")
	srv.Install(t, write("alice.pgp", alicePub), "alice@example.org", false)
	// bob's directory serves his whole key, with both user IDs.
	bobFpr, bobPub := publisher(t, pubs, "bob@example.org", "Bob <bob@example.org>")
	srv.Put(t, "example.org", wkd.Hash("bob"), bobPub, false)
	// carol's domain has no openpgpkey sub-domain: the direct method.
	carolFpr, carolPub := publisher(t, pubs, "carol@example.net", "<carol@example.net>")
	srv.Put(t, "", wkd.Hash("carol"), carolPub, true)
	// dave's is in the direct tree only, but example.org has the advanced
	// sub-domain, which has no key for him: not found (§3.1).
	_, davePub := publisher(t, pubs, "dave@example.org", "<dave@example.org>")
	srv.Put(t, "", wkd.Hash("dave"), davePub, true)
	// frank's answer holds his key and mallory's, which claims his address.
	frankFpr, frankPub := publisher(t, pubs, "frank@example.org", "<frank@example.org>")
	malloryFpr, malloryPub := publisher(t, pubs, "mallory@example.org", "<frank@example.org>")
	srv.Put(t, "example.org", wkd.Hash("frank"), append(append([]byte{}, malloryPub...), frankPub...), false)

	c := &wkd.Client{TLSConfig: &tls.Config{RootCAs: srv.Roots()}, DialContext: srv.DialContext}

	for _, be := range []struct {
		name string
		new  func(*testing.T) pgp.Backend
	}{{"native", nativeBackend}, {"gnupg", gnupgBackend}} {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			fetch := func(addr string, want wkd.Method) []byte {
				t.Helper()
				r, err := c.Fetch(ctx, addr)
				if err != nil {
					t.Fatalf("fetch %s: %v\n%s", addr, err, srv.ErrorLog())
				}
				if r.Method != want {
					t.Errorf("%s: found by the %s method, want %s", addr, r.Method, want)
				}
				return r.Keys
			}

			// Refused, with the reason: gpg-wks-client dropped the xmpp: user ID.
			_, err := wkd.Import(ctx, b, fetch("alice@example.org", wkd.Advanced), mustJID(t, "alice@example.org"))
			var ue *wkd.UserIDError
			if !errors.As(err, &ue) || len(ue.Keys) != 1 || ue.Keys[0].Fingerprint != aliceFpr || !slices.Equal(ue.Keys[0].UserIDs, []string{"Alice <alice@example.org>"}) {
				t.Errorf("alice: %v, want a UserIDError naming her key with only its mail user ID", err)
			}
			if _, err := b.Key(ctx, aliceFpr); !errors.Is(err, pgp.ErrNotFound) {
				t.Errorf("a refused key was stored: %v", err)
			}

			// Taken, with its other user ID kept.
			ks, err := wkd.Import(ctx, b, fetch("bob@example.org", wkd.Advanced), mustJID(t, "bob@example.org"))
			if err != nil || len(ks) != 1 || ks[0].Fingerprint != bobFpr || !slices.Equal(ks[0].UserIDs, []string{"Bob <bob@example.org>", "xmpp:bob@example.org"}) {
				t.Errorf("bob: %+v %v", ks, err)
			}
			// The same key is refused for another JID.
			if _, err := wkd.Import(ctx, b, fetch("bob@example.org", wkd.Advanced), mustJID(t, "robert@example.org")); !errors.As(err, &ue) {
				t.Errorf("bob's key for robert: %v", err)
			}

			ks, err = wkd.Import(ctx, b, fetch("carol@example.net", wkd.Direct), mustJID(t, "carol@example.net"))
			if err != nil || len(ks) != 1 || ks[0].Fingerprint != carolFpr {
				t.Errorf("carol (direct): %+v %v", ks, err)
			}

			ks, err = wkd.Import(ctx, b, fetch("frank@example.org", wkd.Advanced), mustJID(t, "frank@example.org"))
			if len(ks) != 1 || ks[0].Fingerprint != frankFpr || !errors.As(err, &ue) || len(ue.Keys) != 1 || ue.Keys[0].Fingerprint != malloryFpr {
				t.Errorf("frank and mallory: %+v %v", ks, err)
			}
			if _, err := b.Key(ctx, malloryFpr); !errors.Is(err, pgp.ErrNotFound) {
				t.Errorf("mallory's key was stored: %v", err)
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		if _, err := c.Fetch(ctx, "dave@example.org"); !errors.Is(err, wkd.ErrNotFound) {
			t.Errorf("dave: %v, want ErrNotFound (no fall back to the direct method)", err)
		}
		if _, err := c.Fetch(ctx, "nobody@example.net"); !errors.Is(err, wkd.ErrNotFound) {
			t.Errorf("nobody: %v, want ErrNotFound", err)
		}
		var dnsErr interface{ Error() string }
		if _, err := c.Fetch(ctx, "x@unknown.example"); err == nil || errors.Is(err, wkd.ErrNotFound) {
			t.Errorf("unknown domain: %v", err)
		} else {
			dnsErr = err
			t.Logf("unknown domain: %v", dnsErr)
		}
		small := *c
		small.MaxSize = 100
		if _, err := small.Fetch(ctx, "bob@example.org"); !errors.Is(err, wkd.ErrTooLarge) {
			t.Errorf("over the size limit: %v", err)
		}
		untrusting := *c
		untrusting.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()}
		_, err := untrusting.Fetch(ctx, "bob@example.org")
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Errorf("a server whose CA is not trusted: %v", err)
		}
	})
}
