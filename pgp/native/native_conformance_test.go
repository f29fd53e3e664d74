package native_test

import (
	"testing"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/pgptest"
)

// The native backend passes the conformance suite that every backend passes.
func TestConformance(t *testing.T) {
	pgptest.Run(t, func(t *testing.T) pgp.Backend { return newBackend(t) })
}
