package ox

import (
	"context"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/store"
)

// The types and errors of the lower layers that callers of the Client need
// to tell results apart, named here so that a program (cmd/ox among them)
// needs only this package and the types it prints (pgp, trust).

// PublishResult says how one PEP publish went (publish-options applied,
// refused, or set by node configuration).
type PublishResult = pep.PublishResult

// PEP errors (XEP-0060, XEP-0163).
var (
	ErrPEPUnsupported = pep.ErrUnsupported // the server offers no PEP
	ErrPEPForbidden   = pep.ErrForbidden   // no access to the node
	ErrAccessModel    = pep.ErrAccessModel // the server cannot make the node as private as asked
)

// ErrNotFound: no such record (a certification offer, a trust decision).
var ErrNotFound = store.ErrNotFound

// The receiver checks' findings (package check), for callers that say what
// to do about each.
type (
	// SignatureError: the signature is missing, bad, or by an unknown key.
	SignatureError = check.SignatureError
	// SignerMismatchError: the signing key is not the claimed sender's.
	SignerMismatchError = check.SignerMismatchError
	// TimeError: a time stamp is outside the window.
	TimeError = check.TimeError
)

// TrustRecord is the trust in one key of a contact, and TrustEvent one
// entry of the history of trust decisions and key changes.
type (
	TrustRecord = store.TrustRecord
	TrustEvent  = store.TrustEvent
)

// TrustRecords are the trust decisions about j's keys (every contact's,
// for the zero JID).
func (c *Client) TrustRecords(ctx context.Context, j jid.JID) ([]TrustRecord, error) {
	return c.Store.TrustOf(ctx, bareOrEmpty(j))
}

// TrustHistory is the history of trust decisions and key changes of j
// (every contact's, for the zero JID), oldest first.
func (c *Client) TrustHistory(ctx context.Context, j jid.JID) ([]TrustEvent, error) {
	return c.Store.TrustLog(ctx, bareOrEmpty(j))
}

func bareOrEmpty(j jid.JID) string {
	if j.Equal(jid.JID{}) {
		return ""
	}
	return j.Bare().String()
}
