package ox

import (
	"context"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// The states of a CertificationOffer.
const (
	CertificationPending  = store.CertificationPending
	CertificationAccepted = store.CertificationAccepted
	CertificationDeclined = store.CertificationDeclined
)

// CertificationOffer is a certification of one of the account's keys that
// a contact sent (Message.Certification; package wot reads them): kept
// until the user accepts it (merged into the key) or declines it.
type CertificationOffer struct {
	// ID names the offer for accepting or declining it; zero for an offer
	// that was refused (Err).
	ID   int64
	From jid.JID // the sender, bare
	// Certifier is the key that made the certification: the key that
	// signed the message. Target is the account's key it certifies.
	Certifier, Target pgp.Fingerprint
	// UserIDs are Target's user IDs that Certifier certified (when the
	// offer was checked: on arrival and on acceptance).
	UserIDs  []string
	Received time.Time
	State    string // CertificationPending, CertificationAccepted, CertificationDeclined
	// Trust is the user's trust in the certifier's key.
	Trust trust.State
	// Err says why the offer was refused (a *wot.CertificationError). A
	// refused offer is not kept.
	Err error
}

// PublicKeySource makes the key Publish puts on the data node, and says
// whose certifications it carries.
type PublicKeySource func(ctx context.Context, fpr pgp.Fingerprint, me jid.JID) ([]byte, []pgp.Fingerprint, error)

// SetPublicKeySource replaces the minimal key Publish publishes (package
// wot publishes the certifications the user accepted).
func (c *Client) SetPublicKeySource(f PublicKeySource) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.pubSource = f
}

// publicForPublish is the key Publish puts on the data node: the minimal
// key (only the account's user ID; XEP-0373 §4.1), unless a feature
// installed another source.
func (c *Client) publicForPublish(ctx context.Context, fpr pgp.Fingerprint, me jid.JID) ([]byte, []pgp.Fingerprint, error) {
	c.hmu.Lock()
	src := c.pubSource
	c.hmu.Unlock()
	if src != nil {
		return src(ctx, fpr, me)
	}
	pub, err := c.Backend.ExportPublic(ctx, fpr, &me)
	return pub, nil, err
}

// Clock is the Client's time now (Now, or the system's).
func (c *Client) Clock() time.Time { return c.now() }

// SigningKey is the account's newest own key that can sign now, with the
// account's user ID.
func (c *Client) SigningKey(ctx context.Context) (pgp.Fingerprint, error) { return c.signingKey(ctx) }
