// Package check makes every check a receiver of an OX message must make
// (XEP-0373 §3.2, XEP-0374 §2.2 and §3.1), in one function, Message, that the
// messaging code and `ox decrypt` both call.
//
// Each failure is its own error type, so callers can tell them apart and a
// person reads what is wrong: an unsigned or badly signed message, a signer
// whose key does not carry the sender's "xmpp:" user ID or is not announced
// for the sender, a message addressed to someone else, a time stamp outside
// the window, the wrong kind of content element.
package check
