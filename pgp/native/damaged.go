package native

import (
	"fmt"
	"time"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
)

// damaged is the error for a stored key whose bytes are at fault.
func damaged(k *store.Key, detail string, err error) error {
	fpr, _ := pgp.ParseFingerprint(k.Fingerprint)
	return &pgp.DamagedKeyError{Fingerprint: fpr, Secret: k.Secret != nil, Detail: detail, Err: err}
}

// canDecrypt tells whether the stored own key k holds a usable secret for
// its subkey id: a parsed key, a validly bound encryption subkey with that
// ID, and its secret part. If not, the stored key is damaged (issue 18: a
// damaged key made decrypt blame the message).
func (b *Backend) canDecrypt(k *store.Key, id uint64) error {
	e, err := b.parseStored(k)
	if err != nil {
		return err
	}
	for _, dk := range e.DecryptionKeys(id, time.Time{}, b.config()) {
		if dk.PrivateKey != nil && !dk.PrivateKey.Dummy() {
			return nil
		}
	}
	return damaged(k, fmt.Sprintf("it holds no usable secret for its subkey %s (a missing or invalid subkey, binding signature or secret part)", pgp.KeyIDString(id)), nil)
}
