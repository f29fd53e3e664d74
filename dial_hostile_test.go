package ox_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/hostile"
)

const (
	hostilePassword = "hunter2-secret"
	featStartTLS    = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`
	featStartTLSReq = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>`
	featBind        = `<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>`
)

func mechs(names ...string) string {
	var b strings.Builder
	b.WriteString(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`)
	for _, n := range names {
		b.WriteString("<mechanism>" + n + "</mechanism>")
	}
	b.WriteString("</mechanisms>")
	return b.String()
}

// hostileDial runs ox.Dial against a scripted server and returns the one
// connection the server saw, closed, and Dial's error.
func hostileDial(t *testing.T, sasl string, script func(*hostile.Conn) error) (*hostile.Conn, error) {
	t.Helper()
	srv := hostile.Start(t, script)
	a := ox.Account{JID: jid.MustParse("alice@localhost"), Password: hostilePassword, Server: srv.Addr, TLS: srv.TLSConfig(), SASL: sasl}
	// The deadline only stops a hang from hanging the test run; every case
	// below ends on the server's doing long before it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := ox.Dial(ctx, a)
	if sess != nil {
		ox.CloseSession(sess)
	}
	conns := srv.Conns()
	if len(conns) != 1 {
		t.Fatalf("the server saw %d connections, want 1", len(conns))
	}
	conns[0].WaitClosed()
	return conns[0], err
}

// assertNothingInClear fails if the client sent anything but the stream
// header and <starttls/> before TLS.
func assertNothingInClear(t *testing.T, c *hostile.Conn) {
	t.Helper()
	clear := c.Clear()
	for _, bad := range []string{"<iq", "<message", "<presence", "<auth", "<response", hostilePassword} {
		if bytes.Contains(clear, []byte(bad)) {
			t.Errorf("the client sent %q in clear text: %s", bad, clear)
		}
	}
	if !bytes.Contains(clear, []byte("<stream:stream")) {
		t.Errorf("the recorder saw no stream header, so it proves nothing: %q", clear)
	}
}

// loginAfterTLS plays a server that does STARTTLS, then SASL PLAIN
// (forced by the test), then calls then.
func loginAfterTLS(features string, then func(*hostile.Conn) error) func(*hostile.Conn) error {
	return func(c *hostile.Conn) error {
		if err := c.OpenStream(features); err != nil {
			return err
		}
		if _, err := c.Expect("starttls"); err != nil {
			return err
		}
		if err := c.StartTLS(); err != nil {
			return err
		}
		return then(c)
	}
}

func TestDialHostileStartTLSFailure(t *testing.T) {
	for _, feat := range []string{featStartTLS, featStartTLSReq} {
		c, err := hostileDial(t, "", func(c *hostile.Conn) error {
			if err := c.OpenStream(feat + mechs("PLAIN")); err != nil {
				return err
			}
			if _, err := c.Expect("starttls"); err != nil {
				return err
			}
			if err := c.Send(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`); err != nil {
				return err
			}
			return c.WaitGone()
		})
		var te *ox.TLSError
		if !errors.As(err, &te) {
			t.Fatalf("%s: Dial = %v, want a TLSError", feat, err)
		}
		if !strings.Contains(err.Error(), "STARTTLS with <failure/>") {
			t.Errorf("error %q does not say the server refused STARTTLS", err)
		}
		assertNothingInClear(t, c)
	}
}

func TestDialHostileNoStartTLS(t *testing.T) {
	c, err := hostileDial(t, "PLAIN", func(c *hostile.Conn) error {
		if err := c.OpenStream(mechs("PLAIN", "SCRAM-SHA-1")); err != nil {
			return err
		}
		return c.WaitGone()
	})
	if !errors.Is(err, ox.ErrNoStartTLS) {
		t.Fatalf("Dial = %v, want ErrNoStartTLS", err)
	}
	if strings.Contains(err.Error(), "XML syntax") || strings.Contains(err.Error(), "EOF") {
		t.Errorf("error %q speaks of XML, not of the missing STARTTLS", err)
	}
	assertNothingInClear(t, c)
	if bytes.Contains(c.Clear(), []byte("<starttls")) {
		t.Errorf("the client asked for STARTTLS the server did not offer")
	}
}

// An optional STARTTLS is still done, and the whole login then works: this
// is also the positive case that shows the scripted server is faithful.
func TestDialHostileOptionalStartTLS(t *testing.T) {
	c, err := hostileDial(t, "PLAIN", loginAfterTLS(featStartTLS+mechs("PLAIN"), func(c *hostile.Conn) error {
		if err := c.OpenStream(mechs("PLAIN")); err != nil {
			return err
		}
		auth, err := c.Expect("auth")
		if err != nil {
			return err
		}
		if auth.Attr("mechanism") != "PLAIN" {
			return errors.New("auth with " + auth.Attr("mechanism"))
		}
		if err := c.Send(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`); err != nil {
			return err
		}
		if err := c.OpenStream(featBind); err != nil {
			return err
		}
		iq, err := c.Expect("iq")
		if err != nil {
			return err
		}
		if err := c.Send(`<iq type='result' id='` + iq.Attr("id") + `'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>`); err != nil {
			return err
		}
		return c.WaitGone()
	}))
	if err != nil {
		t.Fatalf("Dial = %v, want a session", err)
	}
	if !c.Secured() {
		t.Error("the session was made without TLS")
	}
	assertNothingInClear(t, c)
}

func TestDialHostileSASLFailure(t *testing.T) {
	cases := []struct {
		name     string
		features string
		text     string
		wantMech string
		wantKind ox.AuthKind
	}{
		{"wrong password", mechs("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "SCRAM-SHA-256"), "", "SCRAM-SHA-256", ox.AuthRefused},
		{"channel binding refused", mechs("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1") +
			`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/></sasl-channel-binding>`,
			"Invalid channel binding", "SCRAM-SHA-1-PLUS", ox.AuthChannelBinding},
		{"binding of another type announced", mechs("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1") +
			`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/></sasl-channel-binding>`,
			"", "SCRAM-SHA-1", ox.AuthRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			c, err := hostileDial(t, "", loginAfterTLS(featStartTLSReq, func(c *hostile.Conn) error {
				if err := c.OpenStream(tc.features); err != nil {
					return err
				}
				auth, err := c.Expect("auth")
				if err != nil {
					return err
				}
				got = auth.Attr("mechanism")
				text := ""
				if tc.text != "" {
					text = "<text>" + tc.text + "</text>"
				}
				if err := c.Send(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>` + text + `</failure>`); err != nil {
					return err
				}
				return c.WaitGone()
			}))
			var ae *ox.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Dial = %v, want an AuthError", err)
			}
			if got != tc.wantMech || ae.Mechanism != tc.wantMech {
				t.Errorf("mechanism sent %q, in the error %q; want %q", got, ae.Mechanism, tc.wantMech)
			}
			if ae.Kind != tc.wantKind || ae.Condition != "not-authorized" {
				t.Errorf("kind %v condition %q, want %v not-authorized (%v)", ae.Kind, ae.Condition, tc.wantKind, err)
			}
			assertNothingInClear(t, c)
		})
	}
}

func TestDialHostileNoCommonMechanism(t *testing.T) {
	c, err := hostileDial(t, "", loginAfterTLS(featStartTLSReq, func(c *hostile.Conn) error {
		if err := c.OpenStream(mechs("PLAIN", "DIGEST-MD5")); err != nil {
			return err
		}
		return c.WaitGone()
	}))
	var ae *ox.AuthError
	if !errors.As(err, &ae) || ae.Kind != ox.AuthMechanism {
		t.Fatalf("Dial = %v, want an AuthError of kind mechanism", err)
	}
	if !strings.Contains(err.Error(), "PLAIN, DIGEST-MD5") {
		t.Errorf("error %q does not list what the server offers", err)
	}
	assertNothingInClear(t, c)
}

func TestDialHostileBindFailure(t *testing.T) {
	c, err := hostileDial(t, "PLAIN", loginAfterTLS(featStartTLSReq, func(c *hostile.Conn) error {
		if err := c.OpenStream(mechs("PLAIN")); err != nil {
			return err
		}
		if _, err := c.Expect("auth"); err != nil {
			return err
		}
		if err := c.Send(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`); err != nil {
			return err
		}
		if err := c.OpenStream(featBind); err != nil {
			return err
		}
		iq, err := c.Expect("iq")
		if err != nil {
			return err
		}
		if err := c.Send(`<iq type='error' id='` + iq.Attr("id") + `'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`); err != nil {
			return err
		}
		return c.WaitGone()
	}))
	if err == nil || !strings.Contains(err.Error(), "resource binding") {
		t.Fatalf("Dial = %v, want an error during resource binding", err)
	}
	assertNothingInClear(t, c)
}

func TestDialHostileClosedMidNegotiation(t *testing.T) {
	stages := map[string]func(*hostile.Conn) error{
		"after the features": func(c *hostile.Conn) error {
			return c.OpenStream(featStartTLSReq)
		},
		"during authentication": loginAfterTLS(featStartTLSReq, func(c *hostile.Conn) error {
			if err := c.OpenStream(mechs("SCRAM-SHA-1")); err != nil {
				return err
			}
			_, err := c.Expect("auth")
			return err
		}),
		"in the middle of an element": func(c *hostile.Conn) error {
			if err := c.Header(); err != nil {
				return err
			}
			return c.Send("<stream:features><starttls xmlns='urn:iet")
		},
	}
	for name, script := range stages {
		t.Run(name, func(t *testing.T) {
			c, err := hostileDial(t, "", script) // the script returning closes the connection
			if !errors.Is(err, ox.ErrServerClosed) {
				t.Fatalf("Dial = %v, want ErrServerClosed", err)
			}
			assertNothingInClear(t, c)
		})
	}
}

// A server that says nothing: the Dial deadline ends the wait, and the
// error names the timeout and the address, not a closed connection.
func TestDialHostileSilentServerTimeout(t *testing.T) {
	srv := hostile.Start(t, func(c *hostile.Conn) error { return c.WaitGone() })
	a := ox.Account{JID: jid.MustParse("alice@localhost"), Password: hostilePassword, Server: srv.Addr, TLS: srv.TLSConfig()}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := ox.Dial(ctx, a)
	var te *ox.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want a TimeoutError", err)
	}
	if strings.Contains(err.Error(), "closed network connection") || !strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("error %q should name the timeout and %s", err, srv.Addr)
	} else {
		t.Log(err)
	}
}

// A server that ends SCRAM with <success/> but without its own proof
// (RFC 5802 §5, server-final-message) may not know the password at all:
// that is an error, not a login.
func TestDialHostileSCRAMWithoutServerProof(t *testing.T) {
	c, err := hostileDial(t, "", loginAfterTLS(featStartTLSReq, func(c *hostile.Conn) error {
		if err := c.OpenStream(mechs("SCRAM-SHA-1")); err != nil {
			return err
		}
		auth, err := c.Expect("auth")
		if err != nil {
			return err
		}
		first, err := base64.StdEncoding.DecodeString(auth.Text)
		if err != nil {
			return err
		}
		_, nonce, ok := strings.Cut(string(first), ",r=")
		if !ok {
			return errors.New("no nonce in " + string(first))
		}
		challenge := "r=" + nonce + "srv,s=" + base64.StdEncoding.EncodeToString([]byte("salty")) + ",i=4096"
		if err := c.Send(`<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + base64.StdEncoding.EncodeToString([]byte(challenge)) + `</challenge>`); err != nil {
			return err
		}
		if _, err := c.Expect("response"); err != nil {
			return err
		}
		if err := c.Send(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`); err != nil {
			return err
		}
		return c.WaitGone()
	}))
	var ae *ox.AuthError
	if !errors.As(err, &ae) || ae.Kind != ox.AuthServer {
		t.Fatalf("Dial = %v, want an AuthError of kind server", err)
	}
	if !strings.Contains(err.Error(), "did not prove") {
		t.Errorf("error %q does not say the server gave no proof", err)
	}
	assertNothingInClear(t, c)
}

// A certificate that does not verify is a TLS error, and the password is
// never sent.
func TestDialHostileUntrustedCertificate(t *testing.T) {
	srv := hostile.Start(t, func(c *hostile.Conn) error {
		if err := c.OpenStream(featStartTLSReq + mechs("SCRAM-SHA-1")); err != nil {
			return err
		}
		if _, err := c.Expect("starttls"); err != nil {
			return err
		}
		c.StartTLS() // fails: the client refuses the certificate
		return c.WaitGone()
	})
	cfg := srv.TLSConfig()
	cfg.RootCAs = x509.NewCertPool() // trusts nothing
	a := ox.Account{JID: jid.MustParse("alice@localhost"), Password: hostilePassword, Server: srv.Addr, TLS: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := ox.Dial(ctx, a)
	var te *ox.TLSError
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &te) || !errors.As(err, &ue) {
		t.Fatalf("Dial = %v, want a TLSError for an unknown authority", err)
	}
	c := srv.Conns()[0]
	c.WaitClosed()
	assertNothingInClear(t, c)
}
