package ox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

var (
	// ErrBackupExists: the secret-key node already holds a backup that may
	// be another device's; pushing would replace it.
	ErrBackupExists = errors.New("ox: a secret key backup is already stored")
	// ErrNoBackup: the account has no secret key backup.
	ErrNoBackup = errors.New("ox: no secret key backup is stored")
)

// secretKeyOptions: the node is private (XEP-0373 §5: whitelist, only the
// account itself), and its items persist.
func (c *Client) secretKeyOptions() pep.Options {
	o := pep.Options{"pubsub#access_model": "whitelist", "pubsub#persist_items": "true"}
	if c.Layout == LayoutCompact {
		o["pubsub#max_items"] = "max" // one item per key
	}
	return o
}

// BackupPush encrypts the account's secret key fpr with a new backup code
// and publishes it to the secret-key node (XEP-0373 §5). It returns the
// code, which is shown once and never stored. With the spec layout the
// node holds one backup: if one is there already, BackupPush refuses unless
// replace is set, since it may hold another device's key. With the compact
// layout each key has its own item (id = fingerprint), and only this key's
// item is replaced.
func (c *Client) backupPush(ctx context.Context, fpr pgp.Fingerprint, replace bool) (backup.Code, error) {
	items, err := pep.Items(ctx, c.Session, jid.JID{}, element.NodeSecretKey, 0)
	if err != nil && !errors.Is(err, pep.ErrNotFound) {
		return "", fmt.Errorf("ox: read the secret-key node: %w", err)
	}
	itemID := ""
	if c.Layout == LayoutCompact {
		itemID = fpr.String()
	} else if len(items) > 0 && !replace {
		return "", fmt.Errorf("%w (item %q): it may hold another device's key", ErrBackupExists, items[len(items)-1].ID)
	}
	enc, code, err := ExportBackup(ctx, c.Backend, fpr)
	if err != nil {
		return "", err
	}
	if _, err := pep.Publish(ctx, c.Session, element.NodeSecretKey, itemID, element.SecretKey{Data: enc}.Marshal(), c.secretKeyOptions()); err != nil {
		return "", fmt.Errorf("ox: publish the backup: %w", err)
	}
	return code, nil
}

// BackupRestore fetches the account's backup, opens it with code and
// imports the secret keys it holds. Nothing is stored unless the code opens
// a backup: a wrong code, a missing backup or one ox cannot read changes
// nothing.
func (c *Client) backupRestore(ctx context.Context, code backup.Code) ([]pgp.KeyInfo, error) {
	items, err := pep.Items(ctx, c.Session, jid.JID{}, element.NodeSecretKey, 0)
	if errors.Is(err, pep.ErrNotFound) {
		return nil, ErrNoBackup
	}
	if err != nil {
		return nil, fmt.Errorf("ox: read the secret-key node: %w", err)
	}
	if len(items) == 0 {
		return nil, ErrNoBackup
	}
	// Newest first: with the compact layout every item is a key; one code
	// opens only the items pushed with it.
	var opened [][]byte
	var firstErr error
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Payload == nil {
			continue
		}
		sk, err := element.ParseSecretKey(items[i].Payload)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: item %q: %v", backup.ErrNotABackup, items[i].ID, err)
			}
			continue
		}
		plain, err := backup.Decrypt(sk.Data, code)
		if err != nil {
			if firstErr == nil || errors.Is(err, backup.ErrWrongCode) {
				firstErr = err
			}
			continue
		}
		opened = append(opened, plain)
	}
	if len(opened) == 0 {
		if firstErr == nil {
			firstErr = ErrNoBackup
		}
		return nil, firstErr
	}
	var out []pgp.KeyInfo
	for _, p := range opened {
		ks, err := importRestored(ctx, c.Backend, p)
		out = append(out, ks...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func importRestored(ctx context.Context, be pgp.Backend, secret []byte) ([]pgp.KeyInfo, error) {
	ks, err := be.Import(ctx, secret)
	if err != nil {
		return ks, fmt.Errorf("ox: import the restored key: %w", err)
	}
	return ks, nil
}

// ExportBackup makes the secret-key backup of XEP-0373 §5 of the key fpr,
// encrypted with a new backup code: the binary OpenPGP message that
// BackupPush stores on the server, here to keep elsewhere (a file that
// gpg --decrypt opens with the code as the passphrase). The code is shown
// to the user once and never stored.
func ExportBackup(ctx context.Context, be pgp.Backend, fpr pgp.Fingerprint) ([]byte, backup.Code, error) {
	export := be.ExportSecret
	if ue, ok := be.(pgp.UnprotectedExporter); ok {
		// A key protected by a passphrase goes in unlocked: XEP-0373 §5.4
		// step 1 wants S2K usage 0 inside, the code protects it.
		export = ue.ExportSecretUnprotected
	}
	sec, err := export(ctx, fpr)
	if err != nil {
		return nil, "", err
	}
	code, err := backup.NewCode()
	if err != nil {
		return nil, "", err
	}
	enc, err := backup.Encrypt(sec, code)
	if err != nil {
		return nil, "", err
	}
	return enc, code, nil
}

// OpenedBackup is a backup opened with its code: the secret keys inside,
// not yet stored anywhere.
type OpenedBackup struct{ secret []byte }

// OpenBackup opens a backup (binary or armored, as ExportBackup or another
// client made it) with code. It stores nothing: a wrong code or data that
// is no backup is found before any key store is touched. The errors wrap
// backup.ErrWrongCode, backup.ErrNotABackup and the other errors of
// backup.Decrypt.
func OpenBackup(data []byte, code backup.Code) (*OpenedBackup, error) {
	plain, err := backup.Decrypt(data, code)
	if err != nil {
		return nil, err
	}
	return &OpenedBackup{plain}, nil
}

// Describe describes the keys in the backup without storing them
// anywhere: the embedded backend reads them in a throwaway store in a
// temporary directory, so no account is opened or made. now is the clock
// (nil: time.Now).
func (b *OpenedBackup) Describe(ctx context.Context, now func() time.Time) ([]pgp.KeyInfo, error) {
	dir, err := os.MkdirTemp("", "ox-backup-")
	if err != nil {
		return nil, fmt.Errorf("ox: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "ox.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if now == nil {
		now = time.Now
	}
	return native.New(st, native.WithClock(now)).Inspect(ctx, b.secret)
}

// Import stores the backup's secret keys in be, as BackupRestore does with
// the one on the server.
func (b *OpenedBackup) Import(ctx context.Context, be pgp.Backend) ([]pgp.KeyInfo, error) {
	return importRestored(ctx, be, b.secret)
}
