package pep

import (
	"context"

	"mellium.im/xmpp"
)

// Hooks for the integration test, which lives in package pep_test: the
// Prosody harness imports package ox, which imports pep.
var (
	Exchange  = exchange
	Elem      = elem
	AttrValue = attrValue
	SameXML   = sameXML
)

// PublishRaw sends one publish request with publish-options, without
// Publish's fallback, to see what the server answers.
func PublishRaw(ctx context.Context, s *xmpp.Session, node, itemID string, payload []byte, opts Options) error {
	toks, err := payloadTokens(payload, NSPubSub)
	if err != nil {
		return err
	}
	_, err = publish(ctx, s, node, itemID, toks, opts)
	return err
}
