package wot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// WoT is the web of trust of one Client.
type WoT struct {
	c *ox.Client
}

// New gives c the web of trust: certifications in accepted messages are
// kept as offers (ox.Message.Certification). Call it before c is served.
func New(c *ox.Client) *WoT {
	w := &WoT{c: c}
	c.OnAccepted(w.noteCertification)
	return w
}

// PublishCertifications makes the Client's Publish put on the data node
// the key with the certifications of its user ID that the user accepted
// (AcceptCertification), by certifiers whose keys the user has not
// rejected since; without it only the minimal key goes out.
func (w *WoT) PublishCertifications() {
	w.c.SetPublicKeySource(w.publicForPublish)
}

// ReasonCertified is the reason recorded with the trust decision that
// Certify makes: the user compared the fingerprint and certified the key.
const ReasonCertified = "certified by you"

// CertifyReport says what Certify did.
type CertifyReport struct {
	// Signer is the account's key that made the certification; Target the
	// contact's key, and UserID its user ID that was certified.
	Signer, Target pgp.Fingerprint
	UserID         string
	// Trust is the trust in the contact's key afterwards, and Validity its
	// validity in the user's GnuPG (pgp.KeyInfo.Validity; empty with the
	// native backend).
	Trust    trust.State
	Validity string
	// Sent says to which keys the message with the certification went.
	Sent *ox.SendReport
}

// Certify certifies the contact's key fpr with the account's key and sends
// the certification to the contact. fpr must be the fingerprint the user
// compared with the contact's own: Certify certifies the key's user ID
// "xmpp:<contact>" with the account's signing key (Backend.Certify: an
// exportable certification, stored in the keyring too) and records the key
// as verified (ReasonCertified), then sends the contact the certified key
// in a <certification/> beside a <body/> that says what it is. A key that
// is not stored is fetched first; a key the user rejected, the account's
// own key, and a key without the contact's user ID are refused.
//
// With a backend that has a trust model of its own (GnuPG), nothing is
// recorded in ox: the certification is in the user's keyring, and the
// key's validity, and so its trust, follow the user's trust model (under
// pgp, the default, a key the own key certified is fully valid; under
// tofu, the certification changes nothing).
//
// When the message cannot be sent, the certification is made and recorded
// all the same; the error says so, and Certify may be called again: it
// sends the same certification.
func (w *WoT) Certify(ctx context.Context, contact jid.JID, fpr pgp.Fingerprint) (*CertifyReport, error) {
	c := w.c
	contact = contact.Bare()
	k, err := c.Backend.Key(ctx, fpr)
	if errors.Is(err, pgp.ErrNotFound) {
		if _, ferr := c.Fetch(ctx, contact); ferr != nil && !errors.Is(ferr, ox.ErrNoKeysPublished) {
			return nil, ferr
		}
		k, err = c.Backend.Key(ctx, fpr)
	}
	if errors.Is(err, pgp.ErrNotFound) {
		return nil, fmt.Errorf("ox: no key %s is stored or published by %s: check the fingerprint: %w", fpr, contact, err)
	}
	if err != nil {
		return nil, err
	}
	if k.Secret {
		return nil, fmt.Errorf("ox: key %s is your own key, not %s's", fpr, contact)
	}
	uid, ok := userIDFor(k, contact)
	if !ok {
		return nil, fmt.Errorf("ox: key %s does not carry the user ID %s, so it is not %s's key: %w", fpr, pgp.UserID(contact), contact, pgp.ErrUnsupportedKey)
	}
	if r, err := c.Store.Trust(ctx, contact.String(), fpr.String()); err == nil && r.State == trust.Rejected.String() {
		return nil, fmt.Errorf("ox: you rejected %s's key %s; take that back first ('ox trust undecide')", contact, fpr)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	signer, err := c.SigningKey(ctx)
	if err != nil {
		return nil, err
	}
	data, err := c.Backend.Certify(ctx, signer, fpr, uid)
	if err != nil {
		return nil, err
	}
	if k, err = c.Backend.Key(ctx, fpr); err != nil {
		return nil, err
	}
	if k.Validity == "" {
		if err := c.SetTrust(ctx, contact, fpr, trust.Verified, ReasonCertified); err != nil {
			return nil, err
		}
	}
	rep := &CertifyReport{Signer: signer, Target: fpr, UserID: uid, Validity: k.Validity}
	if rep.Trust, err = c.TrustState(ctx, contact, fpr); err != nil {
		return nil, err
	}
	el, err := element.Certification{Fingerprint: fpr.String(), By: signer.String(), Data: data}.Marshal()
	if err != nil {
		return rep, err
	}
	text := fmt.Sprintf("%s certified your key %s (user ID %s) with their key %s, after comparing its fingerprint. "+
		"Clients that know ox's certification element can add the certification to your key.", c.JID(), fpr.Grouped(), uid, signer.Grouped())
	rep.Sent, err = c.SendPayload(ctx, contact, append(element.BodyPayload(text), el...))
	if err != nil {
		return rep, fmt.Errorf("ox: certified %s's key %s, but could not send the certification: %w", contact, fpr, err)
	}
	return rep, nil
}

// userIDFor finds the key's user ID for j, as the key spells it.
func userIDFor(k pgp.KeyInfo, j jid.JID) (string, bool) {
	want := j.Bare()
	for _, u := range k.UserIDs {
		if v, ok := pgp.JIDFromUserID(u); ok && v.Equal(want) {
			return u, true
		}
	}
	return "", false
}

// CertificationError: a certification ox refuses to keep or merge, and why.
type CertificationError struct {
	From   jid.JID
	Reason string
}

func (e *CertificationError) Error() string {
	return fmt.Sprintf("ox: the certification from %s is refused: %s", e.From, e.Reason)
}

// noteCertification checks a <certification/> in a message's payload and
// keeps it as an offer (Message.Certification); nothing happens for a
// message without one. It is offered only in an accepted 1:1 message to
// the account, and must certify one of the account's own keys, by the key
// that signed the message; anything else is refused with the reason.
func (w *WoT) noteCertification(ctx context.Context, m *ox.Message) {
	c := w.c
	if m == nil || m.Err != nil || m.Pending || m.Sent || m.Type == "groupchat" || len(m.Payload) == 0 {
		return
	}
	el, ok, err := element.FindCertification(m.Payload)
	if !ok {
		return
	}
	from := m.From.Bare()
	o := &ox.CertificationOffer{From: from, Certifier: m.Signer, Received: m.Delivered, Trust: m.Trust}
	m.Certification = o
	refuse := func(format string, a ...any) {
		o.Err = &CertificationError{From: from, Reason: fmt.Sprintf(format, a...)}
	}
	if err != nil {
		refuse("it cannot be read: %v", err)
		return
	}
	target, err1 := pgp.ParseFingerprint(el.Fingerprint)
	by, err2 := pgp.ParseFingerprint(el.By)
	if err1 != nil || err2 != nil {
		refuse("it cannot be read: bad fingerprint")
		return
	}
	o.Target = target
	if own, err := c.Backend.Key(ctx, target); (err != nil || !own.Secret) && w.otherDevice(ctx, target) {
		// For another device of the account (a carbon copy): that device
		// keeps the offer; here the body says what it is.
		m.Certification = nil
		return
	}
	if by != m.Signer {
		refuse("it claims to be by key %s, but the message is signed by key %s", by, m.Signer)
		return
	}
	uids, err := w.checkCertification(ctx, el.Data, target, by)
	if err != nil {
		refuse("%s", err)
		return
	}
	o.UserIDs = uids
	id, _, err := c.Store.AddCertification(ctx, store.Certification{From: from.String(), Certifier: by.String(), Target: target.String(), Key: el.Data, Received: m.Delivered})
	if err != nil {
		refuse("it could not be kept: %v", err)
		return
	}
	rec, err := c.Store.CertificationByID(ctx, id)
	if err != nil {
		refuse("it could not be kept: %v", err)
		return
	}
	o.ID, o.State = id, rec.State
}

// otherDevice tells whether fpr is a key the account announces that is not
// at hand here: another device's.
func (w *WoT) otherDevice(ctx context.Context, fpr pgp.Fingerprint) bool {
	c := w.c
	ok, _ := c.Store.IsAnnounced(ctx, c.JID().String(), fpr.String())
	return ok
}

// checkCertification checks certified key data: it must be the account's
// own key target, carrying a certification by certifier (a stored key) of
// one or more of target's user IDs that verifies. It returns those user
// IDs, or why not.
func (w *WoT) checkCertification(ctx context.Context, data []byte, target, certifier pgp.Fingerprint) ([]string, error) {
	c := w.c
	own, err := c.Backend.Key(ctx, target)
	if errors.Is(err, pgp.ErrNotFound) || err == nil && !own.Secret {
		return nil, fmt.Errorf("it certifies key %s, which is not one of your keys", target)
	}
	if err != nil {
		return nil, err
	}
	ks, err := c.Backend.Inspect(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("its key data cannot be read: %v", err)
	}
	if len(ks) != 1 || ks[0].Fingerprint != target {
		got := make([]string, len(ks))
		for i, k := range ks {
			got[i] = k.Fingerprint.String()
		}
		return nil, fmt.Errorf("its key data holds key %s, not %s", strings.Join(got, ", "), target)
	}
	var uids []string
	for _, u := range own.UserIDs {
		if _, ok := ks[0].CertifiedBy(certifier, u); ok {
			uids = append(uids, u)
		}
	}
	if len(uids) == 0 {
		return nil, fmt.Errorf("its key data carries no valid certification of your key %s by key %s", target, certifier)
	}
	return uids, nil
}

// Certifications returns the certification offers kept, oldest first, with
// the user's present trust in each certifier's key.
func (w *WoT) Certifications(ctx context.Context) ([]ox.CertificationOffer, error) {
	c := w.c
	recs, err := c.Store.Certifications(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ox.CertificationOffer, 0, len(recs))
	for _, r := range recs {
		o, err := w.offerOf(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

func (w *WoT) offerOf(ctx context.Context, r store.Certification) (*ox.CertificationOffer, error) {
	c := w.c
	from, err := jid.Parse(r.From)
	if err != nil {
		return nil, fmt.Errorf("ox: certification %d: %w", r.ID, err)
	}
	certifier, err := pgp.ParseFingerprint(r.Certifier)
	if err != nil {
		return nil, fmt.Errorf("ox: certification %d: %w", r.ID, err)
	}
	target, err := pgp.ParseFingerprint(r.Target)
	if err != nil {
		return nil, fmt.Errorf("ox: certification %d: %w", r.ID, err)
	}
	o := &ox.CertificationOffer{ID: r.ID, From: from, Certifier: certifier, Target: target, Received: r.Received, State: r.State}
	if o.Trust, err = c.TrustState(ctx, from, certifier); err != nil {
		return nil, err
	}
	return o, nil
}

// AcceptCertification merges the offered certification into the account's
// key, after checking it again against the certifier's key and the own
// key as they are stored now; a certifier whose key the user has rejected
// since is refused. The certification is published with the key only when
// the user asks for it (PublishCertifications).
func (w *WoT) AcceptCertification(ctx context.Context, id int64) (*ox.CertificationOffer, error) {
	c := w.c
	r, err := c.Store.CertificationByID(ctx, id)
	if err != nil {
		return nil, err
	}
	o, err := w.offerOf(ctx, r)
	if err != nil {
		return nil, err
	}
	if o.Trust == trust.Rejected {
		return o, &CertificationError{From: o.From, Reason: "you rejected the certifier's key " + o.Certifier.String()}
	}
	uids, err := w.checkCertification(ctx, r.Key, o.Target, o.Certifier)
	if err != nil {
		return o, &CertificationError{From: o.From, Reason: err.Error()}
	}
	o.UserIDs = uids
	if _, err := c.Backend.Import(ctx, r.Key); err != nil {
		return o, fmt.Errorf("ox: merge the certification from %s: %w", o.From, err)
	}
	k, err := c.Backend.Key(ctx, o.Target)
	if err != nil {
		return o, err
	}
	if _, ok := k.CertifiedBy(o.Certifier, uids[0]); !ok {
		return o, fmt.Errorf("ox: the certification from %s was merged, but your key %s does not show it", o.From, o.Target)
	}
	if err := c.Store.SetCertificationState(ctx, id, ox.CertificationAccepted, c.Clock()); err != nil {
		return o, err
	}
	o.State = ox.CertificationAccepted
	return o, nil
}

// DeclineCertification marks an offer declined: it is neither merged nor
// published. (An offer accepted before stays in the key; declining it
// keeps it from being published.)
func (w *WoT) DeclineCertification(ctx context.Context, id int64) error {
	c := w.c
	return c.Store.SetCertificationState(ctx, id, ox.CertificationDeclined, c.Clock())
}

// publicForPublish is the key Publish puts on the data node: minimal, and
// with PublishCertifications the certifications of the user ID by the
// certifiers whose offers the user accepted (and whose keys the user has
// not rejected since).
func (w *WoT) publicForPublish(ctx context.Context, fpr pgp.Fingerprint, me jid.JID) ([]byte, []pgp.Fingerprint, error) {
	c := w.c
	recs, err := c.Store.Certifications(ctx)
	if err != nil {
		return nil, nil, err
	}
	var certifiers []pgp.Fingerprint
	seen := map[pgp.Fingerprint]bool{}
	for _, r := range recs {
		if r.State != ox.CertificationAccepted || r.Target != fpr.String() {
			continue
		}
		o, err := w.offerOf(ctx, r)
		if err != nil || o.Trust == trust.Rejected || seen[o.Certifier] {
			continue
		}
		seen[o.Certifier] = true
		certifiers = append(certifiers, o.Certifier)
	}
	pub, err := c.Backend.ExportPublicWith(ctx, fpr, &me, pgp.ExportOptions{Certifiers: certifiers})
	return pub, certifiers, err
}
