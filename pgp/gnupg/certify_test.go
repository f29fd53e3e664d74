package gnupg_test

import (
	"testing"

	"codeberg.org/ox/ox/pgp/pgptest"
)

// The web of trust part of the conformance suite, and certifications made
// by one backend read by the other.
func TestConformanceCertify(t *testing.T) {
	requireGPG(t)
	pgptest.RunCertify(t, gnupgBackend)
}

func TestCertifyInteropWithNative(t *testing.T) {
	requireGPG(t)
	pgptest.RunCertifyInterop(t, gnupgBackend, nativeBackend)
}
