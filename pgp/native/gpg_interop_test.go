package native_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/ox/ox/pgp"

	"codeberg.org/ox/ox/internal/gpgtest"
)

func requireGPG(t *testing.T) string { return gpgtest.Require(t) }

func gpgHome(t *testing.T, gpg string, imports ...string) func(args ...string) ([]byte, []byte, error) {
	t.Helper()
	home := gpgtest.Home(t)
	run := func(args ...string) ([]byte, []byte, error) {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.Bytes(), errb.Bytes(), err
	}
	for _, f := range imports {
		if _, stderr, err := run("--import", filepath.Join("testdata", f)); err != nil {
			t.Fatalf("gpg --import %s: %v\n%s", f, err, stderr)
		}
	}
	return run
}

// What ox seals, GnuPG (the engine of Profanity and xmppc) opens and verifies,
// with keys made by gpg (carol) and by go-sendxmpp (alice), both ways.
func TestGnuPGReadsWhatOxWrites(t *testing.T) {
	gpg := requireGPG(t)
	ctx := context.Background()
	for _, c := range []struct{ sender, senderFpr, recipient string }{
		{"carol", carolFpr, "alice"},
		{"alice", aliceFpr, "carol"},
	} {
		t.Run(c.sender+"-to-"+c.recipient, func(t *testing.T) {
			b := newBackend(t)
			importFile(t, b, c.sender+".secret.asc")
			rk := importFile(t, b, c.recipient+".public.asc")
			plain := []byte(`<signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="` + c.recipient + `@localhost"/></signcrypt>`)
			ct, err := b.Seal(ctx, plain, pgp.SealOptions{Signer: mustFpr(t, c.senderFpr), Recipients: []pgp.Fingerprint{rk[0].Fingerprint, mustFpr(t, c.senderFpr)}})
			if err != nil {
				t.Fatal(err)
			}
			run := gpgHome(t, gpg, c.recipient+".secret.asc", c.sender+".public.asc")
			in := filepath.Join(t.TempDir(), "msg.pgp")
			if err := os.WriteFile(in, ct, 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := run("--status-fd", "2", "--trust-model", "always", "--decrypt", in)
			if err != nil {
				t.Fatalf("gpg --decrypt: %v\n%s", err, stderr)
			}
			if !bytes.Equal(out, plain) {
				t.Errorf("gpg got %q", out)
			}
			if !strings.Contains(string(stderr), "[GNUPG:] VALIDSIG "+c.senderFpr) {
				t.Errorf("gpg did not verify the signature:\n%s", stderr)
			}
		})
	}
}
