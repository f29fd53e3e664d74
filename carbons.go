package ox

import (
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/element"
)

// unwrapCarbon takes the message out of a carbon copy (XEP-0280 §6):
// <message from='own bare JID'><received|sent xmlns='urn:xmpp:carbons:2'>
// <forwarded xmlns='urn:xmpp:forward:0'><message …/></forwarded>…. A carbon
// from anyone but the account itself is a forgery (XEP-0280 §11) and is
// dropped. The wrapper is scanned once, to cut the inner message out; the
// pipeline parses that once.
func unwrapCarbon(outer stanza.Message, raw []byte, kind string, me jid.JID) (Incoming, bool) {
	// mellium blanks a from equal to the own bare JID.
	if !outer.From.Equal(jid.JID{}) && !outer.From.Equal(me.Bare()) {
		return Incoming{}, false
	}
	inner, stamp, ok := element.Forwarded(raw, nsCarbons, kind)
	if !ok {
		return Incoming{}, false
	}
	return Incoming{Raw: inner, Origin: OriginCarbon, Sent: kind == "sent", Delivered: stamp}, true
}
