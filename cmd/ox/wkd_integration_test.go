package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/internal/gpgtest"
	"codeberg.org/ox/ox/internal/wkdtest"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/wkd"
)

// ox cert fetch --wkd against a real WKD (nginx over HTTPS on loopback,
// its CA given as for the XMPP server): a key with the xmpp: user ID is
// taken, one published with gpg-wks-client (only the mail user ID) is
// refused with the reason.
func TestIntegrationWKDFetch(t *testing.T) {
	srv := wkdtest.Start(t, "example.org")
	ctx := context.Background()
	gpgtest.Require(t)
	pubs, err := gnupg.New(gnupg.Options{Home: gpgtest.Home(t)})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(account, mail string) (pgp.Fingerprint, []byte) {
		j, _ := jid.Parse(account)
		k, err := pubs.Generate(ctx, j, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
		if err != nil {
			t.Fatal(err)
		}
		if err := pubs.AddUserID(ctx, k.Fingerprint, mail); err != nil {
			t.Fatal(err)
		}
		pub, err := pubs.ExportPublic(ctx, k.Fingerprint, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k.Fingerprint, pub
	}
	bobFpr, bobPub := publish("bob@example.org", "Bob <bob@example.org>")
	srv.Put(t, "example.org", wkd.Hash("bob"), bobPub, false)
	aliceFpr, alicePub := publish("alice@example.org", "Alice <alice@example.org>")
	keyFile := filepath.Join(t.TempDir(), "alice.pgp")
	if err := os.WriteFile(keyFile, alicePub, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Install(t, keyFile, "alice@example.org", false)

	work := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(work, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config"))
	t.Setenv("OX_CA_FILE", srv.CAFile)
	t.Setenv("OX_WKD_SERVER", srv.Addr)
	ox := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--home", filepath.Join(work, "carol"), "--account", "carol@example.org"}, args...), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	if _, stderr, code := ox("key", "generate"); code != 0 {
		t.Fatalf("key generate: %s", stderr)
	}

	stdout, stderr, code := ox("cert", "fetch", "--wkd", "bob@example.org")
	if code != 0 || stdout != bobFpr.String()+"  fetched (WKD, advanced method)\n" {
		t.Fatalf("bob: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = ox("cert", "show", "bob@example.org")
	if !strings.Contains(stdout, "user ID      Bob <bob@example.org>\n") || !strings.Contains(stdout, "user ID      xmpp:bob@example.org\n") {
		t.Errorf("bob's key lost a user ID:\n%s", stdout)
	}

	// Refresh, with no XMPP contact, needs no connection: it reads the
	// directory again. Bob's key is revoked (compromised) and the directory
	// serves the revoked key: the refresh takes the revocation.
	stdout, stderr, code = ox("cert", "refresh")
	if code != 0 || stdout != bobFpr.String()+"  bob@example.org  refreshed, expires "+bobExpiry(t, pubs, bobFpr)+" from WKD bob@example.org\n" {
		t.Fatalf("refresh: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := pubs.Revoke(ctx, bobFpr, pgp.RevokeOptions{Reason: pgp.RevocationCompromised, Text: "laptop stolen"}); err != nil {
		t.Fatal(err)
	}
	revoked, err := pubs.ExportPublic(ctx, bobFpr, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Put(t, "example.org", wkd.Hash("bob"), revoked, false)
	stdout, stderr, code = ox("cert", "refresh", "bob@example.org")
	if code != 0 || stdout != bobFpr.String()+"  bob@example.org  REVOKED (compromised) from WKD bob@example.org\n" {
		t.Fatalf("refresh after revocation: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = ox("cert", "show", "bob@example.org")
	if !strings.Contains(stdout, "laptop stolen") {
		t.Errorf("the revocation is not shown:\n%s", stdout)
	}

	stdout, stderr, code = ox("cert", "fetch", "--wkd", "alice@example.org")
	want := regexp.MustCompile(`^ox: error: wkd: not imported for alice@example.org, lacking the user ID xmpp:alice@example.org: ` + aliceFpr.String() + ` has only Alice <alice@example.org>\nox: hint: only a key that carries the user ID xmpp:alice@example.org is taken`)
	if code != 1 || stdout != aliceFpr.String()+"  rejected\n" || !want.MatchString(stderr) {
		t.Errorf("alice: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, _, _ := ox("cert", "list"); strings.Contains(stdout, aliceFpr.String()) {
		t.Errorf("alice's refused key is listed:\n%s", stdout)
	}

	_, stderr, code = ox("cert", "fetch", "--wkd", "nobody@example.org")
	if code != 1 || !strings.HasPrefix(stderr, "ox: error: wkd: no key for this address") {
		t.Errorf("nobody: exit %d %s", code, stderr)
	}
}

// bobExpiry is the expiry ox prints for the key fpr.
func bobExpiry(t *testing.T, b pgp.Backend, fpr pgp.Fingerprint) string {
	t.Helper()
	k, err := b.Key(context.Background(), fpr)
	if err != nil {
		t.Fatal(err)
	}
	return k.Expires.UTC().Format(time.RFC3339)
}
