package gnupg

import (
	"context"
	"fmt"
	"slices"

	"codeberg.org/ox/ox/pgp"
)

var _ pgp.UserIDAdder = (*Backend)(nil)

// AddUserID adds the user ID uid to the own key fpr (see pgp.UserIDAdder):
//
//	gpg --quick-add-uid FPR UID
//
// gpg signs it with the key's secret through gpg-agent, which asks for the
// key's passphrase if it has one (or fails at once with Options.NoPinentry
// and no cached passphrase), and keeps the key's expiry and preferences. A
// key that already has uid is left alone.
func (b *Backend) AddUserID(ctx context.Context, fpr pgp.Fingerprint, uid string) error {
	k, err := b.Key(ctx, fpr)
	if err != nil {
		return err
	}
	if slices.Contains(k.UserIDs, uid) {
		return nil
	}
	if !k.Secret {
		return fmt.Errorf("%w for %s: it is a contact's certificate", pgp.ErrNoSecretKey, fpr)
	}
	r, err := b.run(ctx, nil, 0, "--quick-add-uid", fpr.String(), uid)
	if err != nil {
		return err
	}
	if r.exit != 0 {
		return b.gpgError("add user ID", r, fpr.String())
	}
	k, err = b.Key(ctx, fpr)
	if err != nil {
		return err
	}
	if !slices.Contains(k.UserIDs, uid) {
		return &Error{Op: "add user ID", Err: ErrGPG, Key: fpr.String(), Detail: "gpg reported success, but the key has no user ID " + uid + " now"}
	}
	return nil
}
