package ox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/wkd"
)

// PublishRevoked announces that the account's key fpr is revoked: the
// revoked key (minimal, with its revocation signature) goes to its data
// node, and its entry in the metadata node gets a new date, so that
// contacts fetch it again (XEP-0373 §4.4) and stop encrypting to it; every
// other device's entry is kept. The key stays announced, so that contacts
// who fetch later learn of the revocation too, until the owner takes it
// out with Unpublish. Publish refuses a revoked key; this is its one
// exception.
func (c *Client) PublishRevoked(ctx context.Context, fpr pgp.Fingerprint) (*PublishReport, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	rep, err := c.publishRevoked(ctx, fpr)
	return rep, c.failure(ctx, err)
}

func (c *Client) publishRevoked(ctx context.Context, fpr pgp.Fingerprint) (*PublishReport, error) {
	me := c.JID()
	k, err := c.Backend.Key(ctx, fpr)
	if err != nil {
		return nil, err
	}
	if !k.Revoked {
		return nil, fmt.Errorf("ox: key %s is not revoked; publish it with Publish", fpr)
	}
	if !k.HasUserID(me) {
		return nil, fmt.Errorf("ox: key %s has no user ID %s, so contacts would refuse it: %w", fpr, pgp.UserID(me), pgp.ErrUnsupportedKey)
	}
	pub, err := c.Backend.ExportPublic(ctx, fpr, &me)
	if err != nil {
		return nil, err
	}
	return c.publishKey(ctx, fpr, pub)
}

// ExpiringKeys returns the account's own keys that carry its user ID and
// expire within pgp.RenewBefore of now: the owner should renew them
// (pgp.KeyLifecycle.Renew) and publish them again before contacts stop
// encrypting to them.
func (c *Client) ExpiringKeys(ctx context.Context, now time.Time) ([]pgp.KeyInfo, error) {
	ks, err := c.Backend.SecretKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []pgp.KeyInfo
	for _, k := range ks {
		if k.HasUserID(c.JID()) && k.ExpiresSoon(now) {
			out = append(out, k)
		}
	}
	return out, nil
}

// AnnouncedKey is one key the account's metadata node announces (XEP-0373
// §4.2): this device's, or another device's.
type AnnouncedKey struct {
	Fingerprint string
	Date        time.Time // the metadata entry's date
	// Key is the key as stored here; nil when this device does not hold
	// it (Fetch the account's own JID to store it).
	Key *pgp.KeyInfo
}

// Secret reports whether this device holds the key's secret.
func (a *AnnouncedKey) Secret() bool { return a.Key != nil && a.Key.Secret }

// OwnAnnounced reads the account's metadata node and returns every key it
// announces, in its order, with what this device holds of each.
func (c *Client) OwnAnnounced(ctx context.Context) ([]AnnouncedKey, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	ctx, cancel := c.request(ctx)
	defer cancel()
	list, err := c.ownMetadata(ctx)
	if err != nil {
		return nil, c.failure(ctx, err)
	}
	out := make([]AnnouncedKey, 0, len(list.Keys))
	for _, e := range list.Keys {
		a := AnnouncedKey{Fingerprint: e.Fingerprint, Date: e.Date}
		if fpr, err := pgp.ParseFingerprint(e.Fingerprint); err == nil {
			if k, err := c.Backend.Key(ctx, fpr); err == nil {
				a.Key = &k
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// DeviceRemoval says what RemoveDevice did.
type DeviceRemoval struct {
	// Revoked: this device held the key's secret, so the key was revoked
	// as compromised and published revoked (PublishRevoked): contacts learn
	// of the revocation. Otherwise the key was unpublished (Unpublish):
	// contacts stop using it once they see the metadata without it.
	Revoked bool
	Key     pgp.KeyInfo // the revoked key, when Revoked
}

// RemoveDevice takes the key fpr of a lost device out of use. When this
// device holds its secret (the key was shared, or this is the device), it
// revokes it as compromised, since the lost device's copy may be in other
// hands, and publishes the revoked key; otherwise it unpublishes the key,
// so that contacts stop encrypting to it and refuse what it signs (it is no
// longer announced). text goes into the revocation.
func (c *Client) RemoveDevice(ctx context.Context, fpr pgp.Fingerprint, text string) (*DeviceRemoval, error) {
	if k, err := c.Backend.Key(ctx, fpr); err == nil && k.Secret {
		if l, ok := c.Backend.(pgp.KeyLifecycle); ok {
			rk, err := l.Revoke(ctx, fpr, pgp.RevokeOptions{Reason: pgp.RevocationCompromised, Text: text})
			if err != nil {
				return nil, err
			}
			if _, err := c.PublishRevoked(ctx, fpr); err != nil {
				return &DeviceRemoval{Revoked: true, Key: rk}, err
			}
			return &DeviceRemoval{Revoked: true, Key: rk}, nil
		}
	}
	if err := c.Unpublish(ctx, fpr); err != nil {
		return nil, err
	}
	return &DeviceRemoval{}, nil
}

// WKDOptions say how to reach a Web Key Directory: the same CA settings as
// the XMPP connection's (TLS; nil: the system's roots), and a dialer that
// replaces DNS and TCP (tests, private setups; nil: the system's).
type WKDOptions struct {
	TLS         *tls.Config
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// WKDReport is what FetchWKD found and did.
type WKDReport struct {
	Method   wkd.Method // advanced or direct
	URL      string
	Imported []pgp.KeyInfo
}

// ErrWKDNotFound: the Web Key Directory has no key for the address.
var ErrWKDNotFound = wkd.ErrNotFound

// WKDUserIDError: the directory's keys lack the JID's xmpp: user ID and
// were not imported (see package wkd).
type WKDUserIDError = wkd.UserIDError

// FetchWKD looks the mail address up in its domain's Web Key Directory
// (package wkd: the advanced method, then the direct one) and imports the
// keys found that carry the user ID "xmpp:<j>", as they came. Keys without
// it are refused: the error is then a *WKDUserIDError, beside the report of
// what was imported.
func (c *Client) FetchWKD(ctx context.Context, address string, j jid.JID, opts WKDOptions) (*WKDReport, error) {
	w := &wkd.Client{TLSConfig: opts.TLS, DialContext: opts.DialContext}
	r, err := w.Fetch(ctx, address)
	if err != nil {
		return nil, err
	}
	rep := &WKDReport{Method: r.Method, URL: r.URL}
	held := map[pgp.Fingerprint]pgp.KeyInfo{}
	if ks, err := c.Backend.Inspect(ctx, r.Keys); err == nil {
		for _, k := range ks {
			if h, err := c.Backend.Key(ctx, k.Fingerprint); err == nil {
				held[k.Fingerprint] = h
			}
		}
	}
	rep.Imported, err = wkd.Import(ctx, c.Backend, r.Keys, j)
	for _, k := range rep.Imported {
		// Where it came from, for ox cert refresh.
		if serr := c.Store.SetKeySource(ctx, store.KeySource{JID: j.Bare().String(), Fingerprint: k.Fingerprint.String(), Source: "wkd", Address: address, Fetched: c.now()}); serr != nil && err == nil {
			err = serr
		}
		if h, ok := held[k.Fingerprint]; ok && k.Revoked && !h.Revoked {
			c.warnEvent(ctx, j.Bare(), k.Fingerprint.String(), "revoked", revocationWords(k))
		}
	}
	return rep, err
}

// RefreshReport is what Refresh read again, per source.
type RefreshReport struct {
	// PEP has one report per contact whose key list was read again.
	PEP []*FetchReport
	// WKD has one report per address looked up again.
	WKD []WKDRefresh
	// Failed says what could not be read (one line each); the keys held
	// from before stay as they were.
	Failed []string
}

// WKDRefresh is one Web Key Directory address read again for a JID.
type WKDRefresh struct {
	JID     jid.JID
	Address string
	Report  *WKDReport
	Err     error
}

// RefreshNeedsNetwork says whether Refresh of jids (all contacts when
// none) has keys to read over XMPP: some came from PEP.
func (c *Client) RefreshNeedsNetwork(ctx context.Context, jids ...jid.JID) (bool, error) {
	list, err := c.Store.AnnouncingJIDs(ctx)
	if err != nil {
		return false, err
	}
	me := c.JID().Bare().String()
	for _, s := range list {
		if s != me && refreshWanted(jids, s) {
			return true, nil
		}
	}
	return false, nil
}

func refreshWanted(jids []jid.JID, j string) bool {
	if len(jids) == 0 {
		return true
	}
	for _, x := range jids {
		if x.Bare().String() == j {
			return true
		}
	}
	return false
}

// Refresh reads every contact's keys again from where they came from, so
// that new certifications, new expiry dates and revocations reach the user
// (XEP-0373 §4.4 asks a client to refetch; a revocation is only learnt
// this way when no notification came): each contact's PEP key list and
// every announced key's data node (when online), and every key taken from
// a Web Key Directory, from its address. What is read is merged into the
// key held (the backend merges new signatures); a key held that is
// revoked now is a "revoked" key event. Only jids are refreshed when some
// are given. A source that fails is reported and changes nothing.
func (c *Client) Refresh(ctx context.Context, opts WKDOptions, jids ...jid.JID) (*RefreshReport, error) {
	want := func(j string) bool { return refreshWanted(jids, j) }
	rep := &RefreshReport{}
	if c.Session != nil {
		list, err := c.Store.AnnouncingJIDs(ctx)
		if err != nil {
			return rep, err
		}
		me := c.JID().Bare().String()
		for _, s := range list {
			if s == me || !want(s) {
				continue
			}
			j, err := jid.Parse(s)
			if err != nil {
				continue
			}
			rctx, cancel := c.request(ctx)
			fr, err := c.fetch0(rctx, j, true)
			err = c.failure(rctx, err)
			cancel()
			if errors.Is(err, ErrConnectionLost) || errors.Is(err, context.Canceled) {
				return rep, err
			}
			if err != nil {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s (PEP): %v", j, err))
				continue
			}
			rep.PEP = append(rep.PEP, fr)
		}
	}
	sources, err := c.Store.KeySources(ctx)
	if err != nil {
		return rep, err
	}
	done := map[string]bool{}
	for _, src := range sources {
		key := src.JID + " " + src.Address
		if src.Source != "wkd" || done[key] || !want(src.JID) {
			continue
		}
		done[key] = true
		j, err := jid.Parse(src.JID)
		if err != nil {
			continue
		}
		wr, err := c.FetchWKD(ctx, src.Address, j, opts)
		rep.WKD = append(rep.WKD, WKDRefresh{JID: j, Address: src.Address, Report: wr, Err: err})
		if err != nil {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s (WKD %s): %v", j, src.Address, err))
		}
	}
	return rep, nil
}

// DefaultRotationGrace is how long a rotated-out key stays announced and
// encrypted to beside its successor before it is revoked: long enough for
// every contact's client to fetch the new key (XEP-0373 §4.4) and for
// messages in flight to arrive.
const DefaultRotationGrace = 7 * 24 * time.Hour

// RotateOptions say how Rotate makes the new key and how long the old one
// stays in use.
type RotateOptions struct {
	Grace  time.Duration // zero: DefaultRotationGrace; negative: none (revoke at the next FinishRotations)
	Expiry time.Duration // the new key's lifetime; zero: it never expires
	// Passphrase protects the new secret key (native backend), as
	// pgp.GenerateOptions.Passphrase.
	Passphrase []byte
}

// Rotation is what Rotate did.
type Rotation struct {
	New   pgp.KeyInfo
	Old   []pgp.Fingerprint // the keys it replaces, revoked at Until
	Until time.Time
	// Backup is the new backup code when the account had a backup on the
	// server: the backup now holds the new key (shown once, never stored).
	Backup backup.Code
}

// Rotate replaces the account's keys by a new one: it makes the key (the
// same kind as 'ox key generate'), publishes it beside the old ones, so that
// contacts encrypt to both while the grace period runs, and signs with it
// from then on; once the grace period is over FinishRotations revokes the
// old keys as superseded and publishes them revoked. When the account had a
// backup on the server, the backup is replaced by one of the new key.
func (c *Client) Rotate(ctx context.Context, o RotateOptions) (*Rotation, error) {
	if c.Session == nil {
		return nil, ErrOffline
	}
	if _, ok := c.Backend.(pgp.KeyLifecycle); !ok {
		return nil, fmt.Errorf("ox: this backend cannot revoke keys, so it cannot rotate them: %w", pgp.ErrUnsupportedKey)
	}
	me := c.JID()
	now := c.now()
	ks, err := c.Backend.SecretKeys(ctx)
	if err != nil {
		return nil, err
	}
	var old []pgp.Fingerprint
	for _, k := range ks {
		if k.HasUserID(me) && !k.Revoked && !k.Expired(now) {
			old = append(old, k.Fingerprint)
		}
	}
	if len(old) == 0 {
		return nil, &NoSigningKeyError{Account: me}
	}
	hadBackup, err := c.HasBackup(ctx)
	if err != nil {
		return nil, err
	}
	k, err := c.Backend.Generate(ctx, me, pgp.GenerateOptions{Expiry: o.Expiry, Passphrase: o.Passphrase})
	if err != nil {
		return nil, err
	}
	grace := o.Grace
	if grace == 0 {
		grace = DefaultRotationGrace
	}
	if grace < 0 {
		grace = 0
	}
	r := &Rotation{New: k, Old: old, Until: now.Add(grace)}
	// Recorded before publishing: from here on the new key signs, and a
	// failed publish is redone by 'ox key publish'.
	for _, f := range old {
		if err := c.Store.AddRotation(ctx, store.Rotation{Old: f.String(), New: k.Fingerprint.String(), Started: now, Until: r.Until}); err != nil {
			return r, err
		}
	}
	if _, err := c.Publish(ctx, k.Fingerprint); err != nil {
		return r, fmt.Errorf("ox: the new key %s is made, but publishing it failed (publish it with 'ox key publish'): %w", k.Fingerprint, err)
	}
	if hadBackup {
		if r.Backup, err = c.BackupPush(ctx, k.Fingerprint, true); err != nil {
			return r, fmt.Errorf("ox: the new key %s is published, but the backup could not be replaced ('ox backup push --replace'): %w", k.Fingerprint, err)
		}
	}
	return r, nil
}

// HasBackup reports whether the account has a secret key backup on the
// server (XEP-0373 §5).
func (c *Client) HasBackup(ctx context.Context) (bool, error) {
	if c.Session == nil {
		return false, ErrOffline
	}
	rctx, cancel := c.request(ctx)
	defer cancel()
	items, err := pep.Items(rctx, c.Session, jid.JID{}, element.NodeSecretKey, 0)
	if errors.Is(err, pep.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, c.failure(rctx, fmt.Errorf("ox: read the secret-key node: %w", err))
	}
	return len(items) > 0, nil
}

// retiring reports whether fpr is the old key of a rotation: it still
// decrypts and is encrypted to, but no longer signs.
func (c *Client) retiring(ctx context.Context, fpr pgp.Fingerprint) bool {
	rs, err := c.Store.Rotations(ctx)
	if err != nil {
		return false
	}
	for _, r := range rs {
		if r.Old == fpr.String() {
			return true
		}
	}
	return false
}

// FinishRotations revokes, as superseded, the old keys of rotations whose
// grace period is over at now, and publishes them revoked (PublishRevoked),
// so contacts stop encrypting to them. It returns the keys it revoked. Run
// it whenever the account is online; a rotation that fails is tried again
// next time.
func (c *Client) FinishRotations(ctx context.Context, now time.Time) ([]pgp.KeyInfo, error) {
	if c.Session == nil {
		// A key revoked here but not published would leave contacts
		// encrypting to it: both happen online, or neither.
		return nil, ErrOffline
	}
	rs, err := c.Store.Rotations(ctx)
	if err != nil {
		return nil, err
	}
	lc, ok := c.Backend.(pgp.KeyLifecycle)
	if !ok {
		return nil, nil
	}
	var done []pgp.KeyInfo
	for _, r := range rs {
		if !r.Finished.IsZero() || now.Before(r.Until) {
			continue
		}
		old, err := pgp.ParseFingerprint(r.Old)
		if err != nil {
			continue
		}
		k, err := c.Backend.Key(ctx, old)
		if err != nil {
			return done, err
		}
		if !k.Revoked {
			if k, err = lc.Revoke(ctx, old, pgp.RevokeOptions{Reason: pgp.RevocationSuperseded, Text: "superseded by " + r.New}); err != nil {
				return done, fmt.Errorf("ox: revoke the rotated key %s: %w", old, err)
			}
		}
		if _, err := c.PublishRevoked(ctx, old); err != nil {
			return done, fmt.Errorf("ox: publish the rotated key %s revoked: %w", old, err)
		}
		if err := c.Store.FinishRotation(ctx, r.Old, now); err != nil {
			return done, err
		}
		done = append(done, k)
	}
	return done, nil
}
