// Package feed is the one JSON form of what an account receives: every line
// that `ox listen --json` and `ox room listen --json` print, and every
// `receive` notification the daemon sends, is a Line.
//
// Each Line has a Type:
//
//   - "message": a message that passed every receiver check (XEP-0373 §5,
//     XEP-0374 §2.4), with its text;
//   - "rejected": an OX message that failed a check, with the reason;
//   - "pending": an OX message that cannot be read yet (its signer's key is
//     not known), kept and shown again, as a message or rejected, once it
//     can be read;
//   - "event": something that is not a message: a key change
//     (key-new, key-removed, key-expired, key-revoked, and the warnings
//     key-refused, key-kept, key-capped), a certification offer, or the
//     connection's state.
//
// Lines are pure data made from the library's values; the package holds no
// rule of its own.
package feed
