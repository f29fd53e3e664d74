package pep

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error from this package that comes from the
// server's answer wraps a *StanzaError, which matches (errors.Is) at most
// one of these.
var (
	// ErrNotFound: the node or item does not exist (item-not-found).
	//
	// Some servers answer item-not-found, rather than an access error, when
	// the requester may not see the node (to hide that it exists), and
	// Prosody answers item-not-found to the owner for a node that does not
	// exist. Callers must treat ErrNotFound on a contact's node as "nothing
	// readable there", not as proof that the node is absent.
	ErrNotFound = errors.New("pep: not found")

	// ErrForbidden: the requester has no access. Servers use forbidden,
	// not-authorized, not-allowed, subscription-required, or
	// not-authorized with the pubsub#errors conditions
	// presence-subscription-required or not-in-roster-group. Prosody 0.12
	// answers forbidden, for a whitelist node and also for a presence node
	// (or a node that does not exist) read by someone without a presence
	// subscription.
	ErrForbidden = errors.New("pep: no access")

	// ErrUnsupported: the service offers no PEP, or not the feature used
	// (service-unavailable, feature-not-implemented).
	ErrUnsupported = errors.New("pep: not supported by the server")

	// ErrAccessModel: Publish did not publish because the server would not
	// apply the requested access model and the node would have been more
	// open than asked (anything but "open" was requested).
	ErrAccessModel = errors.New("pep: the server refused the access model")
)

// StanzaError is an error response from the server (RFC 6120 §8.3), with
// the application-specific condition XEP-0060 adds. It matches ErrNotFound,
// ErrForbidden or ErrUnsupported under errors.Is according to its
// condition.
type StanzaError struct {
	Condition string // defined condition, e.g. "item-not-found"; "undefined-condition" when absent
	Text      string // the server's text, if any
	Type      string // error type: cancel, auth, modify, wait, continue
	App       string // application-specific condition, e.g. "precondition-not-met", or ""
	AppNS     string // its namespace, usually http://jabber.org/protocol/pubsub#errors
	Feature   string // the feature attribute of an <unsupported/> condition
}

func (e *StanzaError) Error() string {
	var b strings.Builder
	b.WriteString(e.Condition)
	if e.App != "" {
		b.WriteString("/")
		b.WriteString(e.App)
		if e.Feature != "" {
			b.WriteString(" " + e.Feature)
		}
	}
	if e.Type != "" {
		b.WriteString(" (" + e.Type + ")")
	}
	if e.Text != "" {
		b.WriteString(": " + e.Text)
	}
	return b.String()
}

// Is reports whether the condition belongs to one of the sentinel errors.
func (e *StanzaError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Condition == "item-not-found"
	case ErrForbidden:
		switch e.Condition {
		case "forbidden", "not-authorized", "not-allowed", "subscription-required":
			return true
		}
		return e.App == "presence-subscription-required" || e.App == "not-in-roster-group" || e.App == "closed-node"
	case ErrUnsupported:
		return e.Condition == "service-unavailable" || e.Condition == "feature-not-implemented"
	}
	return false
}

// optionsRefused reports whether err, the answer to a publish with
// publish-options, may mean that the server refused the options (rather
// than the item or the access to the node). XEP-0060 §7.1.5 prescribes
// conflict with precondition-not-met; servers also send not-acceptable,
// bad-request, feature-not-implemented (publish-options unsupported),
// policy-violation or resource-constraint (ejabberd, for an option it does
// not take as a publish-option).
func optionsRefused(err error) bool {
	var se *StanzaError
	if !errors.As(err, &se) {
		return false
	}
	if se.App == "precondition-not-met" || se.Feature == "publish-options" {
		return true
	}
	switch se.Condition {
	case "conflict", "not-acceptable", "bad-request", "feature-not-implemented", "policy-violation":
		return true
	case "resource-constraint":
		// ejabberd 23.01 accepts only pubsub#access_model and
		// pubsub#persist_items as publish-options and answers any other
		// with resource-constraint (wait), "Unknown field ... of type
		// ...#publish-options". A real lack of resources fails the plain
		// publish that the fallback sends next, and that error is returned.
		return true
	}
	return false
}

// configRefused reports whether err, the answer to a node configuration,
// says that the server refused (some of) the values rather than the
// operation.
func configRefused(err error) bool {
	var se *StanzaError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Condition {
	case "not-acceptable", "bad-request", "conflict", "policy-violation":
		return true
	}
	return se.App == "unsupported-access-model" || se.App == "invalid-options"
}
