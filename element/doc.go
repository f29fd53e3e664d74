// Package element implements the wire elements of XEP-0373 (OpenPGP for
// XMPP, "OX") and its instant messaging profile XEP-0374: the OpenPGP
// content elements <signcrypt/>, <sign/> and <crypt/> with their
// XEP-0420 affixes (<to/>, <time/>, <rpad/>), the <openpgp/> element and
// the parts of a <message/> around it (fallback body, XEP-0380 EME,
// XEP-0334 store hint, XEP-0203 delay), and the PEP payloads: <pubkey/>,
// <public-keys-list/> and <secretkey/>; and ox's own payload element
// <certification/>, which carries a certification to the owner of the key
// (the web of trust over XMPP; see NSCertification).
//
// The package is pure: no I/O, no cryptography, no XMPP session. It turns
// bytes into values and values into bytes; signatures, keys and the
// receiver checks live elsewhere.
//
// # Write strictly, read tolerantly
//
// The Marshal functions write exactly what the specifications say:
// upper-case fingerprints, XEP-0082 DateTime in UTC with "Z" and whole
// seconds, bare JIDs in <to/>, exactly one <time/> and <payload/>,
// Base64 without armor, no deprecated attributes, no XML declaration,
// double-quoted attributes, and output that depends only on the input.
// Values that would break a rule are refused with an error rather than
// written.
//
// The Parse functions accept what real clients send, much of it captured
// from go-sendxmpp, Profanity and xmppc: time stamps with "+0000" offsets,
// fractional seconds or no zone; padding that is absent, empty, long or
// odd; payloads in jabber:client or no namespace and with more than a
// body; full JIDs and several recipients in <to/>; armored or wrapped
// Base64; lower-case and duplicate fingerprints; unknown elements and
// attributes. They stay strict where a receiver's security checks depend
// on the structure (exactly one <time/> and <payload/>, the right root
// element and namespace, nothing after the root element) and bound their
// input (MaxSize bytes, MaxDepth levels), so that no input makes them
// panic or use unbounded memory.
//
// Errors wrap sentinel errors (ErrSyntax, ErrMissing, ...) and are
// *ParseError values naming the element and field; their messages start
// with "element: ".
package element
