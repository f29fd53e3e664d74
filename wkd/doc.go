// Package wkd implements the lookup side of the OpenPGP Web Key Directory
// (draft-koch-openpgp-webkey-service, "OpenPGP Web Key Directory"): a key
// for an address local@domain is fetched over HTTPS, by the advanced method
// (https://openpgpkey.DOMAIN/.well-known/openpgpkey/DOMAIN/hu/HASH?l=LOCAL)
// and, where the openpgpkey sub-domain does not exist, by the direct method
// (https://DOMAIN/.well-known/openpgpkey/hu/HASH?l=LOCAL), HASH being the
// z-base-32 encoded SHA-1 of the lower-cased local part (§3.1).
//
// It is one of the ways to a contact's key beside XMPP PEP that the OX
// seed names. A key found is taken for a JID only if it carries that JID's
// "xmpp:" user ID (Import): a WKD answers for a mail address, and only the
// key's owner can bind it to an XMPP address.
package wkd
