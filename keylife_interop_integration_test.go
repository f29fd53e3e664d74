package ox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/gosendxmpp"
	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
)

// What ox publishes of a key's later life reads in GnuPG as it means (and
// so in Profanity and xmppc, the vectors' other clients, which read keys
// through GnuPG's gpgme): a
// renewed key's data node carries the new expiry, and a revoked key's data
// node carries the revocation with its reason (each of the three) and its
// text. The bytes are read back from the server, as any client fetches
// them.
func TestIntegrationKeyLifeReadByGnuPG(t *testing.T) {
	testenv.EachServer(t, func(t *testing.T, server string) {
		gpgtest.Require(t)
		srv := startServerOn(t, server, "alice", "bob")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		alice := newDevice(ctx, t, srv, "alice", true, nil)
		bob := newDevice(ctx, t, srv, "bob", false, nil)
		lc := alice.Backend.(pgp.KeyLifecycle)
		home := gpgtest.Home(t)

		// Renewed: the node holds the new expiry.
		if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		renewed, err := lc.Renew(ctx, alice.key.Fingerprint, 3*365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		pub := gpgImport(t, home, dataNode(ctx, t, bob, alice.jid, alice.key.Fingerprint))
		if got := pub[6]; got != strconv.FormatInt(renewed.Expires.Unix(), 10) {
			t.Errorf("gpg reads the renewed key's expiry as %q, want %d (%v)", got, renewed.Expires.Unix(), renewed.Expires)
		}
		if pub[1] == "r" || pub[1] == "e" {
			t.Errorf("gpg reads the renewed key as %q", pub[1])
		}

		// Revoked, each reason: the node holds the revocation.
		for _, c := range []struct {
			reason pgp.RevocationReason
			code   string // RFC 4880 §5.2.3.23
		}{{pgp.RevocationCompromised, "0x02"}, {pgp.RevocationSuperseded, "0x01"}, {pgp.RevocationRetired, "0x03"}} {
			k, err := alice.Backend.Generate(ctx, alice.jid, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := alice.Publish(ctx, k.Fingerprint); err != nil {
				t.Fatal(err)
			}
			text := "revoked as " + c.reason.String()
			if _, err := lc.Revoke(ctx, k.Fingerprint, pgp.RevokeOptions{Reason: c.reason, Text: text}); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.PublishRevoked(ctx, k.Fingerprint); err != nil {
				t.Fatal(err)
			}
			data := dataNode(ctx, t, bob, alice.jid, k.Fingerprint)
			if pub := gpgImport(t, home, data); pub[1] != "r" {
				t.Errorf("%s: gpg reads the published revoked key with validity %q, want r", c.reason, pub[1])
			}
			packets := gpgRun(t, home, data, "--list-packets")
			if !strings.Contains(packets, "revocation reason "+c.code) || !strings.Contains(packets, text) {
				t.Errorf("%s: gpg does not read reason %s and the text in the published key:\n%s", c.reason, c.code, packets)
			}
		}
	})
}

// go-sendxmpp, which knows only the spec, follows a renewal: it still
// encrypts to alice's renewed key and ox reads it. What it does with a
// revoked key is pinned too: it refuses to encrypt to it (go-crypto finds
// no valid encryption key), so a contact on go-sendxmpp stops using a key
// ox published revoked.
func TestIntegrationKeyLifeGoSendXMPP(t *testing.T) {
	testenv.EachServer(t, func(t *testing.T, server string) {
		gosendxmpp.Require(t)
		srv := startServerOn(t, server, "alice", "bob")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		bob := gosendxmpp.New(t, srv, "bob", "bob-pass")
		if err := bob.GenerateKey(ctx); err != nil {
			t.Fatal(err)
		}
		in := make(inbox, 32)
		alice := newDeviceWith(ctx, t, srv, "alice", true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { in <- m } })
		if _, err := alice.Fetch(ctx, jid.MustParse(srv.JID("bob"))); err != nil {
			t.Fatal(err)
		}
		if err := alice.Online(ctx); err != nil {
			t.Fatal(err)
		}
		lc := alice.Backend.(pgp.KeyLifecycle)
		if _, err := lc.Renew(ctx, alice.key.Fingerprint, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if err := bob.Send(ctx, srv.JID("alice"), "to your renewed key"); err != nil {
			t.Fatalf("go-sendxmpp could not encrypt to the renewed key: %v", err)
		}
		if m := in.next(t, "go-sendxmpp -> renewed key"); m.Err != nil || m.Body != "to your renewed key" {
			t.Fatalf("ox got %q (%v)", m.Body, m.Err)
		}

		if _, err := lc.Revoke(ctx, alice.key.Fingerprint, pgp.RevokeOptions{Reason: pgp.RevocationCompromised, Text: "stolen"}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.PublishRevoked(ctx, alice.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		err := bob.Send(ctx, srv.JID("alice"), "to your revoked key")
		t.Logf("go-sendxmpp sending to a key published revoked: %v", err)
		if err == nil || !strings.Contains(err.Error(), "couldn't encrypt to alice@localhost") {
			t.Errorf("go-sendxmpp sending to a key ox published revoked: %v, want it to refuse (\"couldn't encrypt\")", err)
		}
	})
}

// dataNode is what a contact reads from j's data node of fpr.
func dataNode(ctx context.Context, t *testing.T, reader *device, j jid.JID, fpr pgp.Fingerprint) []byte {
	t.Helper()
	items, err := pep.Items(ctx, reader.Session, j.Bare(), element.DataNode(fpr.String()), 1)
	if err != nil {
		t.Fatal(err)
	}
	it, ok := pep.Newest(items)
	if !ok {
		t.Fatalf("%s's data node of %s is empty", j, fpr)
	}
	pk, err := element.ParsePubKey(it.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return pk.Data
}

// gpgImport imports data into the GnuPG home and returns the fields of
// the key's "pub" line (gpg --with-colons).
func gpgImport(t *testing.T, home string, data []byte) []string {
	t.Helper()
	gpgRun(t, home, data, "--import")
	f := filepath.Join(t.TempDir(), "key.pgp")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gpg", "--homedir", home, "--batch", "--with-colons", "--fixed-list-mode", "--import-options", "show-only", "--import", f).CombinedOutput()
	if err != nil {
		t.Fatalf("gpg --import-options show-only: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "pub:") {
			return strings.Split(l, ":")
		}
	}
	t.Fatalf("gpg shows no key:\n%s", out)
	return nil
}

// gpgRun runs gpg on data given as a file.
func gpgRun(t *testing.T, home string, data []byte, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in.pgp")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gpg", append(append([]string{"--homedir", home, "--batch"}, args...), f)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gpg %v: %v\n%s", args, err, out)
	}
	return string(out)
}
