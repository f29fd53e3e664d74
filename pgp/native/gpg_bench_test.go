package native_test

// The baseline of a client that runs one gpg process per message (what
// clients built on GnuPG's command line do), over the same keys and the
// same ox code around it: text -> <signcrypt/> -> gpg --sign --encrypt ->
// <openpgp/>, and <openpgp/> -> gpg --decrypt -> every receiver check.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// benchGPG is a throw-away GnuPG home holding keys.
type benchGPG struct {
	bin, home string
}

// newBenchGPG makes a home with the keys imported, or skips with the
// reason when gpg is missing. Its agent is stopped and the home removed
// when the benchmark ends.
func newBenchGPG(b *testing.B, keys ...[]byte) *benchGPG {
	b.Helper()
	bin, err := exec.LookPath("gpg")
	if err != nil {
		const reason = "gpg is not installed (apt-get install gnupg): no one-process-per-message baseline"
		// go test prints a skipped benchmark's reason only with -v.
		fmt.Printf("--- SKIP: %s\n    %s\n", b.Name(), reason)
		b.Skip(reason)
	}
	home, err := os.MkdirTemp("", "oxbench")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		b.Fatal(err)
	}
	g := &benchGPG{bin: bin, home: home}
	b.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	for _, k := range keys {
		if _, stderr, err := g.run(k, "--import"); err != nil {
			b.Fatalf("gpg --import: %v\n%s", err, stderr)
		}
	}
	return g
}

func (g *benchGPG) run(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(g.bin, append([]string{"--homedir", g.home, "--batch", "--no-tty", "--quiet",
		"--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// seal is benchSeal with gpg doing the OpenPGP work.
func (g *benchGPG) seal(signer pgp.Fingerprint, to jid.JID, recipients []pgp.Fingerprint, text string) ([]byte, error) {
	c, err := element.NewContent(element.KindSigncrypt, []jid.JID{to}, time.Now(), element.BodyPayload(text))
	if err != nil {
		return nil, err
	}
	plain, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	args := []string{"--compress-algo", "none", "--local-user", signer.String(), "--sign", "--encrypt"}
	for _, r := range recipients {
		args = append(args, "--recipient", r.String())
	}
	ct, stderr, err := g.run(plain, args...)
	if err != nil {
		return nil, fmt.Errorf("gpg --sign --encrypt: %v\n%s", err, stderr)
	}
	return element.MarshalOpenPGP(ct), nil
}

// receive is benchReceive with gpg decrypting and verifying: the opened
// message is built from gpg's status lines, then goes through the same
// receiver checks.
func (g *benchGPG) receive(ctx context.Context, to *benchParty, sender jid.JID, wire []byte, delivered time.Time) (string, error) {
	raw, err := element.ParseOpenPGP(wire)
	if err != nil {
		return "", err
	}
	plain, status, err := g.run(raw, "--status-fd", "2", "--decrypt")
	if err != nil {
		return "", fmt.Errorf("gpg --decrypt: %v\n%s", err, status)
	}
	o := &pgp.Opened{Plaintext: plain, Encrypted: true}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "[GNUPG:]" && f[1] == "VALIDSIG" {
			fpr, err := pgp.ParseFingerprint(f[len(f)-1]) // the primary key's
			if err != nil {
				return "", err
			}
			ts, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return "", err
			}
			ki, err := to.b.Key(ctx, fpr)
			if err != nil {
				return "", err
			}
			o.Signed, o.Signer, o.SignatureTime = true, &ki, time.Unix(ts, 0).UTC()
		}
	}
	return benchCheck(ctx, to, o, sender, delivered)
}

// benchGPGHome makes p's GnuPG home: its secret key and the other's public key.
func benchGPGHome(b *testing.B, p, other *benchParty) *benchGPG {
	b.Helper()
	ctx := context.Background()
	sec, err := p.b.ExportSecret(ctx, p.fpr)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := other.b.ExportPublic(ctx, other.fpr, &other.jid)
	if err != nil {
		b.Fatal(err)
	}
	return newBenchGPG(b, sec, pub)
}

func benchSealGPG(b *testing.B) {
	alice, bob := benchPair(b)
	g := benchGPGHome(b, alice, bob)
	rcpt := []pgp.Fingerprint{bob.fpr, alice.fpr}
	// The first run starts gpg-agent; a client running for a while has it.
	wire, err := g.seal(alice.fpr, bob.jid, rcpt, benchText)
	if err != nil {
		b.Fatal(err)
	}
	if body, err := benchReceive(context.Background(), bob, alice.jid, wire, time.Now()); err != nil || body != benchText {
		b.Fatalf("ox cannot read what gpg sealed: %q, %v", body, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.seal(alice.fpr, bob.jid, rcpt, benchText); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOpenGPG(b *testing.B) {
	ctx := context.Background()
	alice, bob := benchPair(b)
	g := benchGPGHome(b, bob, alice)
	wire, err := benchSeal(ctx, alice, bob.jid, []pgp.Fingerprint{bob.fpr, alice.fpr}, benchText)
	if err != nil {
		b.Fatal(err)
	}
	delivered := time.Now()
	if body, err := g.receive(ctx, bob, alice.jid, wire, delivered); err != nil || body != benchText {
		b.Fatalf("gpg receive: %q, %v", body, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.receive(ctx, bob, alice.jid, wire, delivered); err != nil {
			b.Fatal(err)
		}
	}
}
