// Package mam implements the catch-up from the account's archive
// (XEP-0313 Message Archive Management, with XEP-0059 Result Set
// Management): what reached the account while this device was not
// listening is read once, in order, through the Client's receive pipeline.
//
// It does not use mellium.im/xmpp/history (v0.22.0), for three reasons:
// its iterator drops the error of the query's IQ (so an archive that no
// longer holds the cursor, item-not-found, cannot be told from an empty
// one), it takes results from any sender (a contact could inject archive
// results), and it pages with the XEP-0313 extended form fields (after-id)
// rather than RSM, which servers answer differently. The package collects
// results per query in its Archive (no state shared between Clients), and
// reads them on the Client's worker so archived and live messages keep one
// order.
package mam
