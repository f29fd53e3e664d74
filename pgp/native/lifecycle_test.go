package native_test

import (
	"testing"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/pgptest"
)

// The native backend revokes, certifies revocations and renews as every
// backend does.
func TestLifecycle(t *testing.T) {
	pgptest.RunLifecycle(t, func(t *testing.T) pgp.Backend { return newBackend(t) })
}
