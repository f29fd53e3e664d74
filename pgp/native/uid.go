package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
)

var _ pgp.UserIDAdder = (*Backend)(nil)

// AddUserID adds the user ID uid to the own key fpr (see pgp.UserIDAdder):
// a positive certification by the key itself, made now, that states the
// key's present expiry again (in a v4 key the newest self-signature of a
// user ID may decide the key's expiry), then the key is stored again. A key
// that already has uid, validly self-signed, is left alone.
func (b *Backend) AddUserID(ctx context.Context, fpr pgp.Fingerprint, uid string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := b.st.GetKey(ctx, fpr.String())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", pgp.ErrNotFound, fpr)
	}
	if err != nil {
		return err
	}
	if k.Secret == nil {
		return fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	// A copy of its own, not the cached entity: nothing changes unless the
	// key is stored.
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(k.Secret)))
	if err != nil {
		return fmt.Errorf("pgp: stored key %s is unreadable: %w", fpr, err)
	}
	cfg := b.config()
	if id, ok := e.Identities[uid]; ok {
		if _, err := id.Verify(time.Time{}, cfg); err == nil {
			return nil
		}
		return fmt.Errorf("pgp: key %s has the user ID %q revoked or without a valid self-signature; make a new key", fpr, uid)
	}
	if e.PrivateKey == nil || e.PrivateKey.Dummy() {
		return fmt.Errorf("%w: the secret of key %s is not at hand to sign the user ID", pgp.ErrNoSecretKey, fpr)
	}
	u, err := b.unlock(ctx, e)
	if err != nil {
		return err
	}
	ki := keyInfo(e, cfg)
	if ki.Revoked {
		return &pgp.KeyUnusableError{Fingerprint: fpr, Reason: pgp.ReasonRevoked, At: ki.RevokedAt}
	}
	if !ki.Expires.IsZero() {
		secs := ki.Expires.Sub(e.PrimaryKey.CreationTime) / time.Second
		if secs <= 0 || secs > 1<<32-1 {
			return fmt.Errorf("pgp: key %s has an expiry ox cannot restate (%v)", fpr, ki.Expires)
		}
		cfg.KeyLifetimeSecs = uint32(secs)
	}
	// Signed with the unlocked primary key, stored with the key's own
	// (protected, if it is) secret packet.
	locked := e.PrivateKey
	e.PrivateKey = u.PrivateKey
	err = e.AddUserId(uid, "", "", cfg)
	e.PrivateKey = locked
	if err != nil {
		return fmt.Errorf("pgp: add user ID %q to %s: %w", uid, fpr, err)
	}
	_, err = b.put(ctx, e)
	return err
}
