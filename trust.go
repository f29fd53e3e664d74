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
	// What happened: "new", "removed", "expired" or "revoked"; or a
	// warning about what a fetch found: "refused" (an announced key not
	// taken), "kept" (its data node failed, the copy held is still used),
	// "capped" (the key list had junk or too many entries; Fingerprint is
	// empty), "expiring" (one of the account's own keys expires within
	// 30 days; sent when the Client comes online).
	What  string
	Trust trust.State
	// Reason says why, for the warnings.
	Reason string
}

// TrustError: a message is signed by a key the user rejected, or that the
// user's GnuPG deems never valid (FromGnuPG).
type TrustError struct {
	Sender    jid.JID
	Signer    pgp.Fingerprint
	FromGnuPG bool
}

func (e *TrustError) Error() string {
	if e.FromGnuPG {
		return fmt.Sprintf("ox: the message from %s is signed by key %s, which your GnuPG deems never valid", e.Sender, e.Signer)
	}
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
//
// With a backend that has a trust model of its own (GnuPG: the key's
// Validity is set), the state comes from it (trust.FromValidity) unless
// the user verified or rejected the key in ox (SetTrust: 'ox trust verify'
// or 'reject'; 'ox trust undecide' takes that back, and GnuPG decides
// again): a key GnuPG does not deem valid is undecided, so not encrypted
// to, until the user certifies it in GnuPG or verifies it in ox. That
// state follows the keyring as it changes and is not recorded.
func (c *Client) TrustState(ctx context.Context, j jid.JID, fpr pgp.Fingerprint) (trust.State, error) {
	k, err := c.Backend.Key(ctx, fpr)
	if errors.Is(err, pgp.ErrNotFound) {
		k, err = pgp.KeyInfo{Fingerprint: fpr}, nil
	}
	if err != nil {
		return trust.Undecided, err
	}
	st, _, err := c.trustIn(ctx, j, &k)
	return st, err
}

// trustIn is TrustState for a key at hand; fromGnuPG says that the state is
// GnuPG's validity of the key rather than a decision.
func (c *Client) trustIn(ctx context.Context, j jid.JID, k *pgp.KeyInfo) (st trust.State, fromGnuPG bool, err error) {
	v, err := c.judge(ctx, j, k, false)
	return v.State, v.FromGnuPG, err
}

// judge is the trust in key k of j (trust.Judge, the one decision), with
// what the store holds: the recorded state, the policy, what is known of
// the contact. A key never judged gets its first state from the policy,
// recorded now; a key judged before keeps its state, whether it left the
// contact's announcements and came back or not. firstContact says k came
// with the first keys ever seen for j.
func (c *Client) judge(ctx context.Context, j jid.JID, k *pgp.KeyInfo, firstContact bool) (trust.Verdict, error) {
	j = j.Bare()
	var rec *trust.Recorded
	r, err := c.Store.Trust(ctx, j.String(), k.Fingerprint.String())
	switch {
	case err == nil:
		rec = &trust.Recorded{State: r.State, Reason: r.Reason}
	case !errors.Is(err, store.ErrNotFound):
		return trust.Verdict{State: trust.Undecided}, err
	}
	v, err := trust.Judge(rec, k.Validity,
		func() (trust.Policy, error) { return c.Policy(ctx, j) },
		func() (trust.Contact, error) {
			recs, err := c.Store.TrustOf(ctx, j.String())
			if err != nil {
				return trust.Contact{}, err
			}
			ct := trust.Contact{KnownKeys: len(recs), FirstContact: firstContact || len(recs) == 0}
			for _, r := range recs {
				ct.AnyVerified = ct.AnyVerified || r.State == trust.Verified.String()
			}
			return ct, nil
		})
	if err == nil && v.Record {
		err = c.Store.SetTrust(ctx, store.TrustRecord{JID: j.String(), Fingerprint: k.Fingerprint.String(), State: v.State.String(), Since: c.now(), Reason: v.Reason})
	}
	return v, err
}

// ReasonByUser is the reason recorded with a decision the user took by
// hand (after comparing fingerprints, or on second thought).
const ReasonByUser = "decided by you"

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
		var k pgp.KeyInfo
		stored := false
		f, err := pgp.ParseFingerprint(e.Fingerprint)
		if err != nil {
			continue
		}
		if k, err = c.Backend.Key(ctx, f); err == nil {
			stored = true
		} else {
			k = pgp.KeyInfo{Fingerprint: f}
		}
		// A key seen before keeps the user's decision: a hostile server
		// that takes it out of the list and puts it back resets nothing.
		v, err := c.judge(ctx, j, &k, first)
		if err != nil {
			return err
		}
		st := v.State
		c.keyEvent(ctx, j, e.Fingerprint, "new", st)
		if stored {
			var ue *pgp.KeyUnusableError
			if errors.As(k.Usable(c.now()), &ue) && (ue.Reason == pgp.ReasonExpired || ue.Reason == pgp.ReasonRevoked) {
				if ue.Reason == pgp.ReasonRevoked {
					c.warnEvent(ctx, j, e.Fingerprint, "revoked", revocationWords(k))
				} else {
					c.keyEvent(ctx, j, e.Fingerprint, "expired", st)
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
			if fp, err := pgp.ParseFingerprint(f); err == nil {
				if k, err := c.Backend.Key(ctx, fp); err == nil && k.Validity != "" {
					st, _, _ = c.trustIn(ctx, j, &k)
				}
			}
			c.keyEvent(ctx, j, f, "removed", st)
		}
	}
	return nil
}

// warnEvent records and reports a warning about j's keys (see KeyChange).
func (c *Client) warnEvent(ctx context.Context, j jid.JID, fpr, what, reason string) {
	c.Store.LogTrustEvent(ctx, store.TrustEvent{JID: j.String(), Fingerprint: fpr, What: what, At: c.now(), Reason: reason})
	if c.OnKeyChange != nil {
		c.OnKeyChange(KeyChange{JID: j, Fingerprint: fpr, What: what, Reason: reason})
	}
}

func (c *Client) keyEvent(ctx context.Context, j jid.JID, fpr, what string, st trust.State) {
	c.Store.LogTrustEvent(ctx, store.TrustEvent{JID: j.String(), Fingerprint: fpr, What: what, At: c.now(), Reason: "trust " + st.String()})
	if c.OnKeyChange != nil {
		c.OnKeyChange(KeyChange{JID: j, Fingerprint: fpr, What: what, Trust: st})
	}
}
