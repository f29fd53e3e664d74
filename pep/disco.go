package pep

import (
	"crypto/sha1" // #nosec G505 -- XEP-0115 ver strings are SHA-1 by protocol; not a security use
	"encoding/xml"
	"slices"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/crypto"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// The service discovery identity that DiscoHandler answers with and that
// the XEP-0115 hash covers: a PC client.
const (
	IdentityCategory = "client"
	IdentityType     = "pc"
	IdentityName     = "ox"
)

// Notify is the XEP-0060 §9.2 filtered-notification feature for node:
// node+"+notify". A client that advertises it receives the node's events
// from the contacts whose presence it is subscribed to.
func Notify(node string) string { return node + "+notify" }

// DiscoFeatures returns the features DiscoHandler announces for features:
// those given plus disco#info and caps, without duplicates, sorted.
func DiscoFeatures(features []string) []string {
	all := append([]string{disco.NSInfo, disco.NSCaps}, features...)
	slices.Sort(all)
	return slices.Compact(all)
}

// capsVer computes the XEP-0115 §5.1 verification string with mellium's
// disco.Info.Hash: identities sorted by category, type, then xml:lang,
// each as "category/type/lang/name<", then the features sorted, each as
// "feature<", SHA-1, base64. (No extended forms: this client publishes
// none.) Features are deduplicated first: the hash counts each once.
func capsVer(ids []info.Identity, features []string) string {
	features = slices.Clone(features)
	slices.Sort(features)
	features = slices.Compact(features)
	in := disco.Info{Identity: slices.Clone(ids)}
	for _, f := range features {
		in.Features = append(in.Features, info.Feature{Var: f})
	}
	return in.Hash(sha1.New()) // #nosec G401 -- protocol-mandated hash
}

// CapsVer is the XEP-0115 ver of this client announcing features: identity
// client/pc/ox and DiscoFeatures(features).
func CapsVer(features []string) string {
	return capsVer([]info.Identity{{Category: IdentityCategory, Type: IdentityType, Name: IdentityName}}, DiscoFeatures(features))
}

// Caps returns the XEP-0115 entity-capabilities element
// <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='…' ver='…'/>
// for features; node names the client software, e.g.
// "https://codeberg.org/ox/ox". Put it in every available presence:
// servers learn +notify interest from it (Prosody's mod_pep keys its
// notification subscriptions on the caps hash in presence and asks the
// client's disco#info at node#ver, which DiscoHandler answers).
func Caps(features []string, node string) disco.Caps {
	return disco.Caps{Hash: crypto.SHA1, Node: node, Ver: CapsVer(features)}
}

// CapsPresence returns an available presence carrying Caps(features,
// node), ready for Session.Send.
func CapsPresence(features []string, node string) xml.TokenReader {
	return stanza.Presence{}.Wrap(Caps(features, node).TokenReader())
}

// DiscoHandler returns a mux option that answers disco#info requests
// (XEP-0030) to the client: with no node or with a node "<anything>#<ver>"
// where ver is CapsVer(features) (the XEP-0115 query), the identity
// client/pc/ox and DiscoFeatures(features), e.g. for OX
// Notify("urn:xmpp:openpgp:0:public-keys") and "urn:xmpp:openpgp:im:0";
// other nodes get item-not-found.
//
// It registers the disco#info IQ handler itself, so it cannot be combined
// with mellium's disco.Handle() on the same mux (the mux panics on a
// second registration): use one or the other.
func DiscoHandler(features []string) mux.Option {
	feats := DiscoFeatures(features)
	ver := CapsVer(features)
	h := mux.IQHandlerFunc(func(iq stanza.IQ, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		node := attrValue(start.Attr, "node")
		if node != "" && !strings.HasSuffix(node, "#"+ver) {
			_, err := xmlstream.Copy(t, iq.Error(stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}))
			return err
		}
		var attrs []xml.Attr
		if node != "" {
			attrs = []xml.Attr{attr("node", node)}
		}
		inner := elem("", "identity", []xml.Attr{
			attr("category", IdentityCategory), attr("type", IdentityType), attr("name", IdentityName),
		})
		for _, f := range feats {
			inner = append(inner, elem("", "feature", []xml.Attr{attr("var", f)})...)
		}
		_, err := xmlstream.Copy(t, iq.Result(&tokenSlice{toks: elem(disco.NSInfo, "query", attrs, inner...)}))
		return err
	})
	return mux.IQ(stanza.GetIQ, xml.Name{Space: disco.NSInfo, Local: "query"}, h)
}
