package ox

import (
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
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
	sec, err := c.Backend.ExportSecret(ctx, fpr)
	if err != nil {
		return "", err
	}
	code, err := backup.NewCode()
	if err != nil {
		return "", err
	}
	enc, err := backup.Encrypt(sec, code)
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
		ks, err := c.Backend.Import(ctx, p)
		if err != nil {
			return out, fmt.Errorf("ox: import the restored key: %w", err)
		}
		out = append(out, ks...)
	}
	return out, nil
}
