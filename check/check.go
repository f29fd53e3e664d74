package check

import (
	"errors"
	"fmt"
	"math"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// DefaultWindow is how far a message's <time/> and its signature's creation
// time may lie from the time it was delivered, and from each other. Wide
// enough for clocks that are a few minutes off; narrow enough that a message
// replayed later is refused.
const DefaultWindow = 10 * time.Minute

// Options tune the checks. The zero value checks an XEP-0374 chat message
// with DefaultWindow.
type Options struct {
	// Window overrides DefaultWindow.
	Window time.Duration
	// Kinds are the content elements accepted; empty means <signcrypt/>
	// only, as XEP-0374 §3.1 requires for instant messages.
	Kinds []element.Kind
	// Announced, when set, reports whether the signer's key is announced
	// (or accepted) for the sender; a signer it rejects is refused.
	Announced func(sender jid.JID, signer pgp.Fingerprint) bool
}

// Input is one received message, opened by a pgp.Backend.
type Input struct {
	Opened *pgp.Opened
	// Sender is the message's from; compared as a bare JID.
	Sender jid.JID
	// Recipient is the message's to (our account, or the room of a group
	// chat); compared as a bare JID.
	Recipient jid.JID
	// Delivered is when the message arrived: the server's XEP-0203 delay
	// stamp for offline and archived messages, otherwise now.
	Delivered time.Time
}

// Verdict is what the checks found in a message they accept.
type Verdict struct {
	Content       *element.Content
	Signer        *pgp.KeyInfo // nil for an unsigned <crypt/>
	SignatureTime time.Time
	// Warnings are oddities that do not make the message untrustworthy,
	// such as a peer writing its local time as UTC.
	Warnings []string
}

// Message makes every receiver check, in an order that reports the most
// fundamental problem first, and returns the verdict or the first failure.
func Message(in Input, opts Options) (*Verdict, error) {
	o := in.Opened
	if o == nil {
		return nil, errors.New("check: no opened message")
	}
	window := opts.Window
	if window <= 0 {
		window = DefaultWindow
	}
	c, err := element.ParseContent(o.Plaintext)
	if err != nil {
		return nil, &ContentError{Err: err}
	}
	v := &Verdict{Content: c}

	// The kind of content element, and the OpenPGP layer it demands
	// (XEP-0373 §3.1).
	kinds := opts.Kinds
	if len(kinds) == 0 {
		kinds = []element.Kind{element.KindSigncrypt}
	}
	allowed := false
	for _, k := range kinds {
		allowed = allowed || k == c.Kind
	}
	if !allowed {
		return nil, &KindError{Got: c.Kind, Want: kinds}
	}
	mustSign := c.Kind == element.KindSigncrypt || c.Kind == element.KindSign
	mustEncrypt := c.Kind == element.KindSigncrypt || c.Kind == element.KindCrypt
	switch {
	case mustEncrypt && !o.Encrypted:
		return nil, &LayerError{Kind: c.Kind, Problem: "is not encrypted"}
	case c.Kind == element.KindSign && o.Encrypted:
		return nil, &LayerError{Kind: c.Kind, Problem: "is encrypted, but <sign/> must not be"}
	case c.Kind == element.KindCrypt && o.Signed:
		return nil, &LayerError{Kind: c.Kind, Problem: "is signed, but <crypt/> must not be"}
	}

	// The signature, and that the signer is the sender (XEP-0373 §3.2).
	if mustSign {
		if !o.Signed {
			return nil, &UnsignedError{Kind: c.Kind}
		}
		if err := revokedSigner(o); err != nil {
			return nil, err
		}
		if o.SignatureErr != nil {
			return nil, &SignatureError{Sender: in.Sender.Bare(), Err: o.SignatureErr}
		}
		if o.Signer == nil {
			return nil, &SignatureError{Sender: in.Sender.Bare(), Err: errors.New("no signer key")}
		}
		if !o.Signer.HasUserID(in.Sender) {
			return nil, &SignerMismatchError{Sender: in.Sender.Bare(), Signer: o.Signer.Fingerprint, UserIDs: o.Signer.UserIDs}
		}
		if opts.Announced != nil && !opts.Announced(in.Sender.Bare(), o.Signer.Fingerprint) {
			return nil, &NotAnnouncedError{Sender: in.Sender.Bare(), Signer: o.Signer.Fingerprint}
		}
		v.Signer = o.Signer
		v.SignatureTime = o.SignatureTime
	}

	// The recipient: one <to/> must be the message's to (XEP-0373 §3.2),
	// compared as normalised bare JIDs (§7.3). <crypt/> may lack <to/>.
	if mustSign || len(c.To) > 0 {
		if !addressedTo(c, in.Recipient) {
			return nil, &RecipientError{Recipient: in.Recipient.Bare(), To: toStrings(c)}
		}
	}

	// Times: the signature was made close to delivery (a replayed message
	// is not), and <time/> agrees with the signature, or with delivery for
	// an unsigned message.
	if in.Delivered.IsZero() {
		in.Delivered = time.Now()
	}
	// <time/> is checked against the signature first: when they disagree,
	// that is the evidence of tampering (the signed <time/> is not the one
	// the signature was made with), and it is the finding to report even
	// when both are also far from delivery.
	ref, against := in.Delivered, "delivery"
	if mustSign {
		ref, against = o.SignatureTime, "signature"
	}
	if d := c.Time.Sub(ref); abs(d) > window {
		if h, ok := wholeHours(d, window); ok {
			v.Warnings = append(v.Warnings, fmt.Sprintf("the sender's <time/> is %+dh off the %s time: its client writes local time as UTC", h, against))
		} else {
			return nil, &TimeError{What: "<time/>", Stamp: c.Time, Reference: ref, Against: against, Window: window}
		}
	}
	if mustSign {
		if d := o.SignatureTime.Sub(in.Delivered); abs(d) > window {
			return nil, &TimeError{What: "signature", Stamp: o.SignatureTime, Reference: in.Delivered, Against: "delivery", Window: window}
		}
	}
	return v, nil
}

func addressedTo(c *element.Content, recipient jid.JID) bool {
	want := recipient.Bare()
	for _, t := range c.To {
		if t.Bare().Equal(want) {
			return true
		}
	}
	return false
}

func toStrings(c *element.Content) []string {
	out := make([]string, len(c.To))
	for i, t := range c.To {
		out[i] = t.String()
	}
	return out
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// wholeHours reports whether d is a whole number of hours (up to the ±14 h
// that time zones span), give or take a minute or the window if smaller:
// the mark of a peer that formats local time with a "Z" (seen from
// Profanity in the captured vectors' era).
func wholeHours(d, window time.Duration) (int, bool) {
	h := math.Round(d.Hours())
	if h == 0 || math.Abs(h) > 14 {
		return 0, false
	}
	slack := time.Minute
	if window < slack {
		slack = window
	}
	return int(h), abs(d-time.Duration(h)*time.Hour) <= slack
}
