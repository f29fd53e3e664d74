package backup

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/ox/ox/internal/gpgtest"
)

func requireGPG(t *testing.T) string { return gpgtest.Require(t) }

// gpgRunner makes a throw-away GNUPGHOME (mode 0700) and stops its agent
// afterwards. The returned function runs gpg in it with the passphrase
// given, never cached.
func gpgRunner(t *testing.T, gpg string) (run func(stdin []byte, passphrase string, args ...string) ([]byte, error), dir string) {
	t.Helper()
	home := gpgtest.Home(t)
	run = func(stdin []byte, passphrase string, args ...string) ([]byte, error) {
		t.Helper()
		base := []string{"--homedir", home, "--batch", "--no-tty", "--no-symkey-cache", "--pinentry-mode", "loopback", "--passphrase", passphrase}
		cmd := exec.Command(gpg, append(base, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Logf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
			return nil, err
		}
		return out.Bytes(), nil
	}
	return run, home
}

// What Encrypt makes, GnuPG opens with the code (so a client built on it
// can restore it), sees as SKESK v4 + SEIPD with MDC at the full S2K count,
// and imports as alice's secret key.
func TestGnuPGOpensBackup(t *testing.T) {
	gpg := requireGPG(t)
	run, home := gpgRunner(t, gpg)
	key := aliceSecret(t)
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Encrypt(key, code)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(home, "backup.pgp")
	if err := os.WriteFile(in, msg, 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := run(nil, code.String(), "--decrypt", in)
	if err != nil {
		t.Fatal("gpg --decrypt failed")
	}
	if !bytes.Equal(got, key) {
		t.Fatal("gpg --decrypt did not give the key back")
	}

	packets, err := run(nil, code.String(), "--list-packets", in)
	if err != nil {
		t.Fatal("gpg --list-packets failed")
	}
	for _, want := range []string{
		"symkey enc packet: version 4, cipher 9, aead 0,s2k 3, hash 8",
		"count 65011712",
		"mdc_method: 2",
		`literal data packet:
	mode b`,
	} {
		if !strings.Contains(string(packets), want) {
			t.Errorf("gpg --list-packets: no %q in\n%s", want, packets)
		}
	}

	if _, err := run(got, "", "--import"); err != nil {
		t.Fatal("gpg --import of the restored key failed")
	}
	list, err := run(nil, "", "--with-colons", "--list-secret-keys")
	if err != nil {
		t.Fatal("gpg --list-secret-keys failed")
	}
	if !strings.Contains("\n"+string(list), "\nsec:") || !strings.Contains(string(list), "fpr:::::::::"+aliceFpr+":") {
		t.Errorf("gpg does not list alice's secret key:\n%s", list)
	}

	if _, err := run(nil, wrongCodes(t, 1, code)[0].String(), "--decrypt", in); err == nil {
		t.Error("gpg opened the backup with a wrong code")
	}
}

// Backups GnuPG makes (as Gajim's or another GnuPG-based client's would
// be), armored or not, compressed or not, open with Decrypt.
func TestGnuPGMakesBackup(t *testing.T) {
	gpg := requireGPG(t)
	run, _ := gpgRunner(t, gpg)
	key := aliceSecret(t)
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--symmetric", "--cipher-algo", "AES256", "--s2k-mode", "3", "--s2k-digest-algo", "SHA256", "--s2k-count", "65536"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"--compress-algo", "none"}},
		{"zlib", []string{"--compress-algo", "zlib"}},
		{"armored", []string{"--armor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg, err := run(key, code.String(), append(base, c.args...)...)
			if err != nil {
				t.Fatal("gpg --symmetric failed")
			}
			got, err := Decrypt(msg, code)
			if err != nil {
				t.Fatal(err)
			}
			checkAlice(t, got)
			_, err = Decrypt(msg, wrongCodes(t, 1, code)[0])
			checkErr(t, err, ErrWrongCode)
		})
	}
}
