// Package wot implements the web of trust over XMPP, in the four steps of
// XEP-0373's field notes: get the contact's key, verify its fingerprint,
// certify it, send the certification back. The certification travels as
// ox's <certification/> (element.NSCertification) in the payload of a
// <signcrypt/> message; the receiver checks it, keeps it as an offer, and
// merges it into its own key only when the user accepts it, then publishes
// it only when asked to (WoT.PublishCertifications).
//
// New hooks the package into an ox.Client: offers are read from the
// messages the Client's receive pipeline accepted (ox.Client.OnAccepted),
// and certifications go out through the Client's send path.
package wot
