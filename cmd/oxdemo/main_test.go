package main

import (
	"testing"

	"codeberg.org/ox/ox/internal/prosody"
)

// The README's main job runs end to end: each side reads exactly the text
// the other sent, from the sender's key (run fails otherwise).
func TestIntegrationDemo(t *testing.T) {
	if err := prosody.Available(); err != nil {
		if prosody.Required() {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v (%s)", err, prosody.InstallHint)
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
