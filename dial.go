package ox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Account says how to log in to an XMPP account.
type Account struct {
	// JID is the account's address; a resourcepart, if any, is asked for
	// when binding (the server may pick another).
	JID      jid.JID
	Password string
	// Server overrides where to connect ("host:port"); empty means the
	// usual DNS SRV lookup of the JID's domain, then the domain itself.
	Server string
	// DirectTLS connects with TLS from the first byte (XEP-0368) instead
	// of STARTTLS.
	DirectTLS bool
	// TLS configures certificate checks; nil means the system's roots and
	// the JID's domain as server name. Set RootCAs for a private server.
	TLS *tls.Config
}

// saslMechanisms are offered strongest first (channel binding where the TLS
// version has it).
var saslMechanisms = []sasl.Mechanism{
	sasl.ScramSha256Plus,
	sasl.ScramSha1Plus,
	sasl.ScramSha256,
	sasl.ScramSha1,
}

// AuthError is the server refusing the login (RFC 6120 §6.5), for example
// a wrong password or an unknown account ("not-authorized").
type AuthError struct {
	Condition string // the defined condition, e.g. "not-authorized"
	Text      string // the server's optional text
	err       error
}

func (e *AuthError) Error() string {
	if e.Text != "" {
		return "the server refused the login (" + e.Condition + "): " + e.Text
	}
	return "the server refused the login (" + e.Condition + ")"
}

func (e *AuthError) Unwrap() error { return e.err }

// Dial connects and logs in: TLS (STARTTLS or direct) whose certificate is
// verified, SASL SCRAM, resource binding. ctx bounds the negotiation; the
// session outlives it. The caller closes the session.
func Dial(ctx context.Context, a Account) (*xmpp.Session, error) {
	if a.JID.Localpart() == "" {
		return nil, fmt.Errorf("ox: %q is not an account JID", a.JID)
	}
	cfg := a.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = a.JID.Domainpart()
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	var conn net.Conn
	var err error
	if a.Server != "" {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", a.Server)
		if err == nil && a.DirectTLS {
			tc := tls.Client(conn, cfg)
			if err = tc.HandshakeContext(ctx); err != nil {
				conn.Close()
			}
			conn = tc
		}
	} else {
		d := dial.Dialer{NoTLS: !a.DirectTLS, TLSConfig: cfg}
		conn, err = d.Dial(ctx, "tcp", a.JID.Domain())
	}
	where := a.Server
	if where == "" {
		where = a.JID.Domainpart()
	}
	if err != nil {
		return nil, fmt.Errorf("ox: connect to %s: %w", where, err)
	}
	// Closing the connection when ctx ends bounds the negotiation for sure:
	// a read blocked on a silent server then fails.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	features := []xmpp.StreamFeature{
		xmpp.SASL("", a.Password, saslMechanisms...),
		bindResource(a.JID.Resourcepart()),
	}
	if !a.DirectTLS {
		// STARTTLS first, so the password never crosses the wire in clear.
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(cfg)}, features...)
	}
	origin := a.JID
	sess, err := xmpp.NewClientSession(ctx, origin, conn, features...)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended just as negotiation finished: conn is closed
	}
	if err != nil {
		conn.Close()
		if cond, text, ok := saslFailure(err); ok {
			err = &AuthError{Condition: cond, Text: text, err: err}
		}
		return nil, fmt.Errorf("ox: log in as %s via %s: %w", origin.Bare(), where, err)
	}
	return sess, nil
}

// bindResource is xmpp.BindResource, but it really asks for resource:
// mellium v0.22.0 always sends an empty <resource/> (its bind payload writes
// the empty JID there), so the server picks a random one. With no resource
// it leaves binding to mellium.
func bindResource(resource string) xmpp.StreamFeature {
	f := xmpp.BindResource()
	if resource == "" {
		return f
	}
	f.Negotiate = func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		w := session.TokenWriter()
		defer w.Close()
		r := session.TokenReader()
		defer r.Close()

		id := make([]byte, 8)
		rand.Read(id)
		reqID := "bind-" + hex.EncodeToString(id)
		req := stanza.IQ{XMLName: xml.Name{Space: stanza.NSClient, Local: "iq"}, ID: reqID, Type: stanza.SetIQ}.Wrap(
			xmlstream.Wrap(
				xmlstream.Wrap(xmlstream.Token(xml.CharData(resource)), xml.StartElement{Name: xml.Name{Local: "resource"}}),
				xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}},
			))
		if _, err := xmlstream.Copy(w, req); err != nil {
			return 0, nil, err
		}
		if err := w.Flush(); err != nil {
			return 0, nil, err
		}
		d := xml.NewTokenDecoder(r)
		tok, err := d.Token()
		if err != nil {
			return 0, nil, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "iq" {
			return 0, nil, fmt.Errorf("xmpp: bind: expected an IQ, got %T %v", tok, tok)
		}
		var resp struct {
			stanza.IQ
			JID string        `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
			Err *stanza.Error `xml:"error"`
		}
		if err := d.DecodeElement(&resp, &start); err != nil {
			return 0, nil, err
		}
		switch {
		case resp.ID != reqID:
			return 0, nil, fmt.Errorf("xmpp: bind: response id %q, want %q", resp.ID, reqID)
		case resp.Type == stanza.ErrorIQ && resp.Err != nil:
			return 0, nil, fmt.Errorf("xmpp: bind %q: %w", resource, resp.Err)
		case resp.Type != stanza.ResultIQ:
			return 0, nil, fmt.Errorf("xmpp: bind %q: IQ of type %q", resource, resp.Type)
		}
		bound, err := jid.Parse(resp.JID)
		if err != nil {
			return 0, nil, fmt.Errorf("xmpp: bind: server sent JID %q: %w", resp.JID, err)
		}
		session.UpdateAddr(bound)
		return xmpp.Ready, nil, nil
	}
	return f
}

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// saslFailure finds the SASL failure in err. mellium returns it as a value
// of its internal type saslerr.Error (fields Condition, a Stringer, and
// Text), which other modules cannot name, hence reflection.
func saslFailure(err error) (cond, text string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		t := v.Type()
		if t.Kind() != reflect.Struct || t.Name() != "Error" || t.PkgPath() != "mellium.im/xmpp/internal/saslerr" {
			continue
		}
		c, tx := v.FieldByName("Condition"), v.FieldByName("Text")
		if !c.IsValid() || !c.CanInterface() || tx.Kind() != reflect.String {
			return "", "", false
		}
		return fmt.Sprint(c.Interface()), tx.String(), true
	}
	return "", "", false
}

// CloseSession ends the XML stream and closes the connection under it:
// mellium's Session.Close alone leaves the TCP connection open (and a
// server then waits for it).
func CloseSession(sess *xmpp.Session) error {
	err := sess.Close()
	if cerr := sess.Conn().Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}
