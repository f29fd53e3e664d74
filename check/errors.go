package check

import (
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// ContentError: the decrypted content is not a valid OX content element.
type ContentError struct{ Err error }

func (e *ContentError) Error() string {
	return "check: the decrypted content is not a valid OX element: " + e.Err.Error()
}
func (e *ContentError) Unwrap() error { return e.Err }

// KindError: the content element is not of an accepted kind (a chat message
// must be <signcrypt/>, XEP-0374 §3.1).
type KindError struct {
	Got  element.Kind
	Want []element.Kind
}

func (e *KindError) Error() string {
	w := make([]string, len(e.Want))
	for i, k := range e.Want {
		w[i] = "<" + k.String() + "/>"
	}
	return fmt.Sprintf("check: the message carries <%s/>, but only %s is accepted here", e.Got, strings.Join(w, " or "))
}

// LayerError: the OpenPGP layer does not fit the content element (XEP-0373
// §3.1: <signcrypt/> signed and encrypted, <sign/> only signed, <crypt/>
// only encrypted).
type LayerError struct {
	Kind    element.Kind
	Problem string
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("check: the OpenPGP message holding <%s/> %s", e.Kind, e.Problem)
}

// UnsignedError: a <signcrypt/> or <sign/> that is not signed.
type UnsignedError struct{ Kind element.Kind }

func (e *UnsignedError) Error() string {
	return fmt.Sprintf("check: the message is not signed, but <%s/> must be: anyone could have written it", e.Kind)
}

// SignatureError: the signature does not verify, or its key is unknown. Err
// is the backend's *pgp.SignatureError.
type SignatureError struct {
	Sender jid.JID
	Err    error
}

func (e *SignatureError) Error() string {
	return "check: message from " + e.Sender.String() + ": " + strings.TrimPrefix(e.Err.Error(), "pgp: ")
}
func (e *SignatureError) Unwrap() error { return e.Err }

// SignerMismatchError: the signing key does not carry the user ID
// "xmpp:<sender>" (XEP-0373 §3.2): someone else's key signed it.
type SignerMismatchError struct {
	Sender  jid.JID
	Signer  pgp.Fingerprint
	UserIDs []string
}

func (e *SignerMismatchError) Error() string {
	ids := "no user ID"
	if len(e.UserIDs) > 0 {
		ids = "only " + strings.Join(e.UserIDs, ", ")
	}
	return fmt.Sprintf("check: the message claims to be from %s, but the signing key %s has %s, not %s", e.Sender, e.Signer, ids, pgp.UserID(e.Sender))
}

// NotAnnouncedError: the signing key is not announced (nor accepted) for
// the sender.
type NotAnnouncedError struct {
	Sender jid.JID
	Signer pgp.Fingerprint
}

func (e *NotAnnouncedError) Error() string {
	return fmt.Sprintf("check: the signing key %s is not one that %s announces", e.Signer, e.Sender)
}

// RecipientError: no <to/> names the message's recipient: it was written
// for someone else and forwarded (XEP-0373 §3.1, surreptitious forwarding).
type RecipientError struct {
	Recipient jid.JID
	To        []string
}

func (e *RecipientError) Error() string {
	if len(e.To) == 0 {
		return fmt.Sprintf("check: the message names no recipient, so it cannot be shown as addressed to %s", e.Recipient)
	}
	return fmt.Sprintf("check: the message is addressed to %s, not to %s", strings.Join(e.To, ", "), e.Recipient)
}

// TimeError: a time stamp lies outside the window: a replayed or delayed
// message, or a badly wrong clock.
type TimeError struct {
	What      string // "signature" or "<time/>"
	Stamp     time.Time
	Reference time.Time
	Against   string // "delivery" or "signature"
	Window    time.Duration
}

func (e *TimeError) Error() string {
	d := e.Stamp.Sub(e.Reference)
	rel := "before"
	if d > 0 {
		rel = "after"
	}
	return fmt.Sprintf("check: the %s time %s is %s %s the %s time %s (allowed: %s): a replayed message or a wrong clock",
		e.What, e.Stamp.UTC().Format(time.RFC3339), abs(d).Round(time.Second), rel, e.Against, e.Reference.UTC().Format(time.RFC3339), e.Window)
}
