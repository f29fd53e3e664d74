package prosody

import (
	"context"
	"crypto/tls"
	"fmt"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
)

// AuthError is a SASL failure from the server (RFC 6120 §6.5), e.g. a wrong
// password or an unknown account ("not-authorized"); it is ox's own.
type AuthError = ox.AuthError

// Account is how ox reaches local@Domain on this server: STARTTLS on Addr
// (or direct TLS on TLSAddr), verified against the throw-away CA.
func (s *Server) Account(local, password, resource string, directTLS bool) (ox.Account, error) {
	origin, err := jid.New(local, s.Domain, resource)
	if err != nil {
		return ox.Account{}, fmt.Errorf("prosody: %w", err)
	}
	a := ox.Account{JID: origin, Password: password, Server: s.Addr, TLS: s.TLSConfig(), DirectTLS: directTLS}
	if directTLS {
		a.Server = s.TLSAddr
	}
	return a, nil
}

// Dial logs local@Domain in with ox.Dial over c2s on Addr: TCP, STARTTLS
// verified against the throw-away CA (TLSConfig), SASL SCRAM with
// password, and resource binding (resource may be empty to let the server
// pick one). ctx bounds the whole negotiation; the session outlives it. The
// caller ends it with CloseSession.
func (s *Server) Dial(ctx context.Context, local, password, resource string) (*xmpp.Session, error) {
	return s.dial(ctx, false, s.TLSConfig(), local, password, resource)
}

// DialDirectTLS is Dial over direct TLS (XEP-0368) on TLSAddr instead of
// STARTTLS.
func (s *Server) DialDirectTLS(ctx context.Context, local, password, resource string) (*xmpp.Session, error) {
	return s.dial(ctx, true, s.TLSConfig(), local, password, resource)
}

func (s *Server) dial(ctx context.Context, direct bool, cfg *tls.Config, local, password, resource string) (*xmpp.Session, error) {
	a, err := s.Account(local, password, resource, direct)
	if err != nil {
		return nil, err
	}
	a.TLS = cfg
	sess, err := ox.Dial(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("prosody: %w", err)
	}
	return sess, nil
}

// CloseSession ends the XML stream and closes the connection under it.
func CloseSession(sess *xmpp.Session) error { return ox.CloseSession(sess) }
