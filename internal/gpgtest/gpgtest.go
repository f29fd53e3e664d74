// Package gpgtest gives tests a real gpg binary and a throw-away GnuPG home.
package gpgtest

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether a missing gpg must fail the tests rather than
// skip them: in CI, or with OX_REQUIRE_INTEGRATION set.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("OX_REQUIRE_INTEGRATION") != ""
}

// Require returns the path of gpg, or skips the test with the reason (fails
// it when Required).
func Require(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("gpg")
	if err != nil {
		if Required() {
			t.Fatal("gpg is not installed (apt-get install gnupg); these tests require it here")
		}
		t.Skip("gpg is not installed (apt-get install gnupg): skipping the GnuPG tests")
	}
	return p
}

// Home makes a throw-away GNUPGHOME (mode 0700, under the system's temporary
// directory: gpg-agent's socket path must stay short) and, when the test
// ends, stops the agent gpg started there and removes it.
func Home(t testing.TB) string {
	t.Helper()
	home, err := os.MkdirTemp("", "oxgpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	return home
}
