package native_test

import (
	"testing"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/pgptest"
)

// The web of trust part of the conformance suite.
func TestConformanceCertify(t *testing.T) {
	pgptest.RunCertify(t, func(t *testing.T) pgp.Backend { return newBackend(t) })
}
