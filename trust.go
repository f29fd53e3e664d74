package ox

import (
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// KeyChange is a change in a contact's keys, with the trust the key has.
type KeyChange struct {
	JID         jid.JID
	Fingerprint string
	// What happened: "new", "removed", "expired" or "revoked".
	What  string
	Trust trust.State
}

// TrustError: a message is signed by a key the user rejected.
type TrustError struct {
	Sender jid.JID
	Signer pgp.Fingerprint
}

func (e *TrustError) Error() string {
	return fmt.Sprintf("ox: the message from %s is signed by key %s, which you rejected", e.Sender, e.Signer)
}

// Policy is the trust policy for j: j's own override, else the account's,
// else trust.BTBV.
func (c *Client) Policy(ctx context.Context, j jid.JID) (trust.Policy, error) {
	for _, who := range []string{j.Bare().String(), ""} {
		p, err := c.Store.Policy(ctx, who)
		if err != nil {
			return "", err
		}
		if p != "" {
			return trust.ParsePolicy(p)
		}
	}
	return trust.BTBV, nil
}

// SetPolicy sets the account's policy (zero j) or j's override; an empty
// policy removes the override.
func (c *Client) SetPolicy(ctx context.Context, j jid.JID, p trust.Policy) error {
	who := ""
	if !j.Equal(jid.JID{}) {
		who = j.Bare().String()
	}
	return c.Store.SetPolicy(ctx, who, string(p))
}

// TrustState is the trust in key fpr of j. A key never decided gets its
// state from the policy now, and the decision is recorded.
func (c *Client) TrustState(ctx context.Context, j jid.JID, fpr pgp.Fingerprint) (trust.State, error) {
	r, err := c.Store.Trust(ctx, j.Bare().String(), fpr.String())
	if err == nil {
		return trust.ParseState(r.State)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return trust.Undecided, err
	}
	return c.decide(ctx, j.Bare(), fpr.String(), false)
}

// decide gives a newly seen key its first state by the policy.
func (c *Client) decide(ctx context.Context, j jid.JID, fpr string, firstContact bool) (trust.State, error) {
	p, err := c.Policy(ctx, j)
	if err != nil {
		return trust.Undecided, err
	}
	recs, err := c.Store.TrustOf(ctx, j.String())
	if err != nil {
		return trust.Undecided, err
	}
	ct := trust.Contact{KnownKeys: len(recs), FirstContact: firstContact || len(recs) == 0}
	for _, r := range recs {
		ct.AnyVerified = ct.AnyVerified || r.State == trust.Verified.String()
	}
	st, why := trust.Initial(p, ct)
	err = c.Store.SetTrust(ctx, store.TrustRecord{JID: j.String(), Fingerprint: fpr, State: st.String(), Since: c.now(), Reason: why})
	return st, err
}

// SetTrust records the user's decision about key fpr of j: verified (after
// comparing fingerprints) or rejected; reason says why, for the history.
func (c *Client) SetTrust(ctx context.Context, j jid.JID, fpr pgp.Fingerprint, st trust.State, reason string) error {
	return c.Store.SetTrust(ctx, store.TrustRecord{JID: j.Bare().String(), Fingerprint: fpr.String(), State: st.String(), Since: c.now(), Reason: reason})
}

// noteKeyChanges records and reports what changed in j's announcements: new
// keys get their first trust state, removed ones are logged; a key that is
// expired or revoked when fetched is logged as such.
func (c *Client) noteKeyChanges(ctx context.Context, j jid.JID, before map[string]store.Announcement, now []element.PubKeyMetadata, rep *FetchReport) error {
	if j.Equal(c.JID()) {
		return nil // the account's own devices
	}
	first := len(before) == 0
	seen := map[string]bool{}
	for _, e := range now {
		seen[e.Fingerprint] = true
		if _, ok := before[e.Fingerprint]; ok {
			continue
		}
		if !first {
			rep.Added = append(rep.Added, e.Fingerprint)
		}
		st, err := c.decide(ctx, j, e.Fingerprint, first)
		if err != nil {
			return err
		}
		c.keyEvent(ctx, j, e.Fingerprint, "new", st)
		if f, err := pgp.ParseFingerprint(e.Fingerprint); err == nil {
			if k, err := c.Backend.Key(ctx, f); err == nil {
				var ue *pgp.KeyUnusableError
				if errors.As(k.Usable(c.now()), &ue) && (ue.Reason == pgp.ReasonExpired || ue.Reason == pgp.ReasonRevoked) {
					c.keyEvent(ctx, j, e.Fingerprint, map[pgp.UnusableReason]string{pgp.ReasonExpired: "expired", pgp.ReasonRevoked: "revoked"}[ue.Reason], st)
				}
			}
		}
	}
	for f := range before {
		if !seen[f] {
			rep.Removed = append(rep.Removed, f)
			st := trust.Undecided
			if r, err := c.Store.Trust(ctx, j.String(), f); err == nil {
				st, _ = trust.ParseState(r.State)
			}
			c.keyEvent(ctx, j, f, "removed", st)
		}
	}
	return nil
}

func (c *Client) keyEvent(ctx context.Context, j jid.JID, fpr, what string, st trust.State) {
	c.Store.LogTrustEvent(ctx, store.TrustEvent{JID: j.String(), Fingerprint: fpr, What: what, At: c.now(), Reason: "trust " + st.String()})
	if c.OnKeyChange != nil {
		c.OnKeyChange(KeyChange{JID: j, Fingerprint: fpr, What: what, Trust: st})
	}
}
