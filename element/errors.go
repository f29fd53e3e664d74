package element

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps one of them,
// so callers can branch with errors.Is; the parse functions return a
// *ParseError that says which element and field was at fault.
var (
	// ErrSyntax: the input is not well-formed XML (or uses a DOCTYPE,
	// which XMPP forbids, RFC 6120 §11.1).
	ErrSyntax = errors.New("element: not well-formed XML")
	// ErrTooLarge: the input (or an output) is larger than MaxSize.
	ErrTooLarge = errors.New("element: input too large")
	// ErrTooDeep: elements nest deeper than MaxDepth.
	ErrTooDeep = errors.New("element: elements nested too deeply")
	// ErrTrailingData: something other than whitespace, comments or
	// processing instructions follows the root element.
	ErrTrailingData = errors.New("element: trailing data after the root element")
	// ErrUnexpectedElement: the root element has the wrong name or namespace.
	ErrUnexpectedElement = errors.New("element: unexpected element")
	// ErrMissing: a required element or attribute is absent or empty.
	ErrMissing = errors.New("element: missing required element")
	// ErrDuplicate: an element that must occur once occurs more than once.
	ErrDuplicate = errors.New("element: duplicate element")
	// ErrBadTime: a DateTime (XEP-0082) that cannot be parsed.
	ErrBadTime = errors.New("element: bad time stamp")
	// ErrBadData: base64 or ASCII armor that cannot be decoded, or bytes
	// that are not OpenPGP packets.
	ErrBadData = errors.New("element: bad encoded data")
	// ErrBadFingerprint: not a 40 hex digit OpenPGP v4 fingerprint.
	ErrBadFingerprint = errors.New("element: bad OpenPGP v4 fingerprint")
	// ErrInvalid: a value given to a constructor or Marshal breaks a rule
	// of the specification (strict write).
	ErrInvalid = errors.New("element: invalid value")
	// ErrNoRecipient: <signcrypt/> and <sign/> need at least one <to/>
	// (XEP-0373 §3.1).
	ErrNoRecipient = errors.New("element: no recipient (<to/>) for signcrypt or sign")
)

// ParseError describes why an element could not be read or written.
// Err is one of the sentinel errors above (errors.Is works through it).
type ParseError struct {
	Element string // the element being read, e.g. "signcrypt", "message"
	Field   string // the part at fault, e.g. "time", "payload"; may be empty
	Reason  string // human-readable detail; may be empty
	Err     error  // sentinel error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("element: ")
	if e.Element != "" {
		b.WriteString("<" + e.Element + "/>")
	}
	if e.Field != "" {
		if e.Element != "" {
			b.WriteString(" ")
		}
		b.WriteString(e.Field)
	}
	if e.Element != "" || e.Field != "" {
		b.WriteString(": ")
	}
	msg := ""
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "element: ")
	}
	b.WriteString(msg)
	if e.Reason != "" {
		if msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Reason)
	}
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

func perr(elem, field string, sentinel error, reason string) *ParseError {
	return &ParseError{Element: elem, Field: field, Reason: reason, Err: sentinel}
}
