// Package pep implements the XEP-0060/XEP-0163 operations OX needs
// (XEP-0373 §4, §5) over a mellium.im/xmpp session: publishing to the
// account's own PEP service with publish-options and a fallback when the
// server refuses them, fetching items from the own or a contact's service,
// configuring, deleting and retracting, parsing event notifications
// (including id-only ones from notification-only nodes), and announcing
// the client's +notify interest through service discovery and XEP-0115
// entity capabilities.
//
// It knows nothing of OpenPGP: payloads are raw XML, one element each,
// built and read by package element.
//
// Functions take a context and a session that is being served (a
// Session.Serve loop must run, or IQ answers never arrive), and must not be
// called from inside a handler of that loop.
//
// # Errors
//
// Errors start with "pep: ". Server errors wrap a *StanzaError that matches
// ErrNotFound, ErrForbidden or ErrUnsupported with errors.Is. Servers
// differ in how they say "no access": forbidden, not-authorized,
// not-allowed, or even item-not-found; callers reading a contact's node
// must treat ErrNotFound and ErrForbidden alike, as "nothing readable".
//
// # What Prosody 0.12 does
//
// Observed by the integration tests of this package against Prosody 0.12.3
// (pep_max_items 10000):
//
//   - publish-options create a new node with that configuration (max_items
//     1 unless asked otherwise). On an existing node configured otherwise
//     the publish fails with conflict + precondition-not-met ("Field does not
//     match: access_model"), also for a field the node never set explicitly
//     (deliver_payloads=true: "Field does not match: include_payload"), so
//     Publish configures the node and publishes again.
//   - An unknown publish-option (pubsub#ox-bogus) is accepted and ignored.
//     max_items above pep_max_items is refused with bad-request ("max_items:
//     out of bounds"); the access model roster with not-acceptable (Prosody
//     offers only open, presence and whitelist).
//   - max_items is honoured: a max_items=1 node keeps one item, and
//     publishing item id "current" again replaces it.
//   - Items come oldest first, the newest last; max_items=N on a request
//     returns the newest N, still oldest first; items asked for by id come
//     in the order asked, unknown ids left out without an error.
//   - A whitelist node read by another account, contact or not: forbidden.
//     A presence node read by a non-contact: forbidden. A node that does not
//     exist: item-not-found for the owner and for a contact, forbidden for
//     anybody else.
//   - deliver_payloads=false is honoured: notifications carry <item id/>
//     only.
//   - Notifications (items, retract with notify, delete) go to contacts
//     with a mutual presence subscription whose presence carries XEP-0115
//     caps whose disco#info lists node+"+notify", open nodes included; each
//     arrives twice (to the bare and to the full JID, same message id), and
//     HandleEvents passes it on once.
package pep
