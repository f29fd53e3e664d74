package ox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/xmlx"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

// LocalOptions say where an account's local state is: its store, and the
// OpenPGP backend that holds its keys.
type LocalOptions struct {
	JID jid.JID
	// Dir is the account's directory; the store is Dir/ox.db.
	Dir string
	// Backend is "native" (the embedded go-crypto backend, keys in the
	// store; the default) or "gnupg" (the user's GnuPG keyring).
	Backend string
	// GnuPGHome is GnuPG's home for the gnupg backend; empty means gpg's
	// own default ($GNUPGHOME, ~/.gnupg).
	GnuPGHome string
	// Create makes the store when there is none yet; without it, an
	// account with no store (and the native backend) is ErrNoAccount.
	Create bool
	// Now is the clock keys and messages are judged at (tests pin it);
	// nil means time.Now.
	Now func() time.Time
	// Passphrase unlocks the native backend's protected secret keys
	// (native.WithPassphrase); nil: a protected key cannot be used.
	Passphrase func(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error)
}

// ErrNoAccount: the account has no local state yet (no keys, no store).
var ErrNoAccount = errors.New("ox: the account has no keys yet")

// NoAccountError is ErrNoAccount for one account.
type NoAccountError struct {
	JID jid.JID
	Dir string
}

func (e *NoAccountError) Error() string {
	return fmt.Sprintf("ox: account %s has no keys yet (%s)", e.JID, e.Dir)
}

// Is makes errors.Is(err, ErrNoAccount) true.
func (e *NoAccountError) Is(target error) bool { return target == ErrNoAccount }

// OpenLocal opens an account's store and backend and returns a Client
// without a session: everything that needs no server works (keys, trust,
// Encrypt, Decrypt); set Session (Dial) to go online. Close closes what it
// opened.
func OpenLocal(ctx context.Context, o LocalOptions) (*Client, error) {
	db := filepath.Join(o.Dir, "ox.db")
	kind := o.Backend
	if kind == "" {
		kind = "native"
	}
	// With GnuPG the keys live in the GnuPG home; the store keeps the rest
	// (announcements, trust, pending messages) and is made on first use.
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) && !o.Create && kind != "gnupg" {
		return nil, &NoAccountError{JID: o.JID, Dir: o.Dir}
	}
	var be pgp.Backend
	switch kind {
	case "native":
	case "gnupg":
		g, err := gnupg.New(gnupg.Options{Home: o.GnuPGHome})
		if err != nil {
			return nil, err
		}
		be = g
	default:
		return nil, fmt.Errorf("ox: unknown OpenPGP backend %q (want native or gnupg)", kind)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("ox: %w", err)
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		if be != nil {
			be.Close()
		}
		return nil, err
	}
	if be == nil {
		var opts []native.Option
		if o.Now != nil {
			opts = append(opts, native.WithClock(o.Now))
		}
		if o.Passphrase != nil {
			opts = append(opts, native.WithPassphrase(o.Passphrase))
		}
		be = native.New(st, opts...)
	}
	c := &Client{Backend: be, Store: st, local: o.JID.Bare(), Now: o.Now}
	c.owned = func() error {
		err := be.Close()
		if serr := st.Close(); err == nil {
			err = serr
		}
		return err
	}
	return c, nil
}

// CheckGnuPG says whether the GnuPG backend can work with the GnuPG home
// (empty: gpg's default): gpg is there and new enough.
func CheckGnuPG(home string) error {
	g, err := gnupg.New(gnupg.Options{Home: home})
	if err != nil {
		return err
	}
	return g.Close()
}

// Encrypt makes an OX <signcrypt/> of text for the recipients without
// sending it: the <openpgp/> element. The recipients' keys are resolved as
// Send resolves them (announced, usable, trusted; never a rejected or
// undecided key), offline from what is stored when the Client has no
// session; the message is encrypted to the account's own keys too.
func (c *Client) Encrypt(ctx context.Context, to []jid.JID, text string) ([]byte, *SendReport, error) {
	signer, err := c.signingKey(ctx) // first: without a key of our own, nothing else matters
	if err != nil {
		return nil, nil, err
	}
	rep := &SendReport{}
	var keys []pgp.Fingerprint
	for _, j := range to {
		res, err := c.resolveKeys(ctx, j.Bare())
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, res.keys...)
		rep.Undecided = append(rep.Undecided, res.undecided...)
		rep.Unannounced = append(rep.Unannounced, res.unannounced...)
	}
	sealed, err := c.seal(ctx, signer, to, keys, element.BodyPayload(text))
	if err != nil {
		return nil, nil, err
	}
	rep.Recipients, rep.Self = keys, sealed.Self
	return element.MarshalOpenPGP(sealed.OpenPGP), rep, nil
}

// DecryptOptions tune Decrypt.
type DecryptOptions struct {
	// From is the sender; zero means the stanza's from attribute.
	From jid.JID
	// At is when the message arrived, for the time checks; zero means its
	// delay stamp, or now.
	At time.Time
}

// ErrNoSender: Decrypt was given no sender and the input names none.
var ErrNoSender = errors.New("ox: who sent it is unknown: the input has no from attribute")

// Decrypt reads an <openpgp/> element or a whole <message/> stanza handed
// over by the user through the receive pipeline, with every check a
// received message gets (announcement, trust, time window): the returned
// Message's Err says why it is refused. A message whose signer's key is
// not known is refused (not kept).
func (c *Client) Decrypt(ctx context.Context, raw []byte, o DecryptOptions) (*Message, error) {
	m, err := element.ParseMessage(raw)
	if err != nil {
		return nil, err
	}
	if len(m.OpenPGP) == 0 {
		return nil, ErrNotOX
	}
	sender := o.From
	if sender.Equal(jid.JID{}) {
		if m.FromRaw == "" || m.From.Localpart() == "" {
			return nil, ErrNoSender
		}
		sender = m.From
	}
	// The pipeline reads stanzas: wrap a bare <openpgp/> in one from the
	// sender, to the account.
	if o.At.IsZero() {
		o.At = serverDelay(m, c.JID()) // an offline message: judged at its server's delay stamp
	}
	if m.FromRaw == "" || !o.From.Equal(jid.JID{}) {
		raw = []byte(`<message xmlns="jabber:client" from="` + xmlAttr(sender.Bare().String()) + `" to="` + xmlAttr(c.JID().String()) + `">` +
			string(element.MarshalOpenPGP(m.OpenPGP)) + `</message>`)
	}
	return c.Process(ctx, Incoming{Raw: raw, Origin: OriginInput, Delivered: o.At})
}

func xmlAttr(s string) string { return string(xmlx.AppendAttr(nil, s)) }

// DefaultWindow is how far the time stamps of a received message may be
// off by default (check.DefaultWindow).
const DefaultWindow = check.DefaultWindow

// OwnImport says what ImportOwnKey did.
type OwnImport struct {
	// Keys are the keys imported (or merged), as stored now.
	Keys []pgp.KeyInfo
	// Trusted are the own keys given ultimate owner trust in the user's
	// GnuPG (pgp.OwnerTruster), as gpg does for a key it makes.
	Trusted []pgp.Fingerprint
	// Lacking are secret keys without the account's user ID: contacts
	// refuse what they sign.
	Lacking []pgp.Fingerprint
}

// ImportOwnKey imports the account's own secret key (data: binary or
// armored). With a backend that keeps its own trust model (GnuPG), a
// secret key that carries the account's user ID is given ultimate owner
// trust, as the key would have had had gpg made it.
func (c *Client) ImportOwnKey(ctx context.Context, data []byte) (*OwnImport, error) {
	ks, err := c.Backend.Import(ctx, data)
	if err != nil {
		return nil, err
	}
	rep := &OwnImport{}
	me := c.JID()
	for _, k := range ks {
		if !k.HasUserID(me) {
			if k.Secret {
				rep.Lacking = append(rep.Lacking, k.Fingerprint)
			}
			rep.Keys = append(rep.Keys, k)
			continue
		}
		if ot, ok := c.Backend.(pgp.OwnerTruster); ok && k.Secret {
			changed, err := ot.TrustOwn(ctx, k.Fingerprint)
			if err != nil {
				return rep, fmt.Errorf("ox: imported key %s, but could not give it ultimate trust in GnuPG: %w", k.Fingerprint, err)
			}
			if changed {
				rep.Trusted = append(rep.Trusted, k.Fingerprint)
				if now, err := c.Backend.Key(ctx, k.Fingerprint); err == nil {
					k = now
				}
			}
		}
		rep.Keys = append(rep.Keys, k)
	}
	return rep, nil
}
