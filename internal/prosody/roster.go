package prosody

import (
	"context"
	"fmt"
	"testing"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// SubscribeMutually gives the accounts of a and b a mutual presence
// subscription ("both", RFC 6121 §3) with subscribe/subscribed exchanges,
// as two people who add each other as contacts do. Both sessions must be
// served (Session.Serve), since it waits for the server's answers to pings.
func SubscribeMutually(ctx context.Context, a, b *xmpp.Session) error {
	aj, bj := a.LocalAddr().Bare(), b.LocalAddr().Bare()
	for _, step := range []struct {
		s   *xmpp.Session
		typ stanza.PresenceType
		to  jid.JID
	}{
		{a, stanza.SubscribePresence, bj},
		{b, stanza.SubscribedPresence, aj},
		{b, stanza.SubscribePresence, aj},
		{a, stanza.SubscribedPresence, bj},
	} {
		if err := step.s.Send(ctx, stanza.Presence{Type: step.typ, To: step.to}.Wrap(nil)); err != nil {
			return fmt.Errorf("prosody: presence %s to %s: %w", step.typ, step.to, err)
		}
		// Once the server answers a ping, it has processed the presence.
		if err := ping.Send(ctx, step.s, step.s.LocalAddr().Domain()); err != nil {
			return fmt.Errorf("prosody: ping: %w", err)
		}
	}
	return nil
}

// JIDParse is JID(local), parsed.
func (s *Server) JIDParse(t testing.TB, local string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s.JID(local))
	if err != nil {
		t.Fatal(err)
	}
	return j
}
