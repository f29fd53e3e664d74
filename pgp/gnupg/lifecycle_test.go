package gnupg_test

import (
	"testing"

	"codeberg.org/ox/ox/pgp/pgptest"
)

// Revoke, revocation certificates and renew through gpg, and each read by
// the native backend and back (the interop with the real gpg).
func TestConformanceLifecycle(t *testing.T) {
	requireGPG(t)
	pgptest.RunLifecycle(t, gnupgBackend)
}

func TestLifecycleInteropWithNative(t *testing.T) {
	requireGPG(t)
	pgptest.RunLifecycleInterop(t, gnupgBackend, nativeBackend)
}
