package wkd_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"codeberg.org/ox/ox/internal/wkdtest"
	"codeberg.org/ox/ox/wkd"
)

// The example of draft-koch-openpgp-webkey-service §3.1.
func TestHashVector(t *testing.T) {
	if got := wkd.Hash("Joe.Doe"); got != "iy9q119eutrkn8s1mk4r39qejnbu3n5q" {
		t.Errorf("Hash(Joe.Doe) = %s", got)
	}
	adv, dir, err := wkd.URLs("Joe.Doe@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"; adv != want {
		t.Errorf("advanced %s, want %s", adv, want)
	}
	if want := "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"; dir != want {
		t.Errorf("direct %s, want %s", dir, want)
	}
	for _, bad := range []string{"", "alice", "@example.org", "alice@", "alice@exa/mple.org"} {
		if _, _, err := wkd.URLs(bad); !errors.Is(err, wkd.ErrAddress) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// GnuPG computes the same hash (and its lower-casing is ASCII only).
func TestHashAsGnuPG(t *testing.T) {
	if _, err := exec.LookPath(wkdtest.WKSClient); err != nil {
		if wkdtest.Required() {
			t.Fatal("gpg-wks-client is not installed (apt-get install gpg-wks-client)")
		}
		t.Skip("gpg-wks-client is not installed: skipping")
	}
	for _, local := range []string{"alice", "Joe.Doe", "ÜBER", "a+b_c-d"} {
		out, err := exec.Command(wkdtest.WKSClient, "--print-wkd-hash", local+"@example.org").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := wkd.Hash(local), strings.Fields(string(out))[0]; got != want {
			t.Errorf("%s: %s, gpg-wks-client says %s", local, got, want)
		}
	}
}
