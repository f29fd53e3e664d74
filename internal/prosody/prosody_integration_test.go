package prosody

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// testTimeout bounds each integration test's XMPP traffic.
const testTimeout = 30 * time.Second

type chatMessage struct {
	XMLName xml.Name
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"`
}

// checkVerifiedTLS fails the test unless the session runs over TLS whose
// server certificate chained to the throw-away CA.
func checkVerifiedTLS(t *testing.T, srv *Server, name string, sess *xmpp.Session) {
	t.Helper()
	cs := sess.ConnectionState()
	if !cs.HandshakeComplete {
		t.Fatalf("%s: TLS handshake not complete", name)
	}
	if len(cs.VerifiedChains) == 0 {
		t.Fatalf("%s: TLS without a verified chain", name)
	}
	root := cs.VerifiedChains[0][len(cs.VerifiedChains[0])-1]
	if root.Subject.CommonName != "ox test throw-away CA" {
		t.Fatalf("%s: chain ends in %q, want the throw-away CA", name, root.Subject.CommonName)
	}
	if err := cs.PeerCertificates[0].VerifyHostname(srv.Domain); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestIntegrationTwoAccountsExchangeMessage(t *testing.T) {
	srv := StartT(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// Accounts registered while the server runs must be usable at once.
	for local, pw := range map[string]string{"alice": "alice-pass", "bob": "bob-pass"} {
		if err := srv.Register(ctx, local, pw); err != nil {
			t.Fatal(err)
		}
	}

	alice, err := srv.Dial(ctx, "alice", "alice-pass", "ox-test")
	if err != nil {
		t.Fatal(err)
	}
	defer CloseSession(alice)
	checkVerifiedTLS(t, srv, "alice STARTTLS", alice)
	if got, want := alice.LocalAddr().String(), "alice@"+srv.Domain+"/ox-test"; got != want {
		t.Fatalf("alice bound %q, want %q", got, want)
	}

	bob, err := srv.Dial(ctx, "bob", "bob-pass", "")
	if err != nil {
		t.Fatal(err)
	}
	defer CloseSession(bob)
	checkVerifiedTLS(t, srv, "bob STARTTLS", bob)
	if bob.LocalAddr().Resourcepart() == "" {
		t.Fatalf("bob bound %q without a server-assigned resource", bob.LocalAddr())
	}

	// Direct TLS (XEP-0368) works too, with the same verification.
	direct, err := srv.DialDirectTLS(ctx, "alice", "alice-pass", "direct")
	if err != nil {
		t.Fatal(err)
	}
	checkVerifiedTLS(t, srv, "alice direct TLS", direct)
	if err := CloseSession(direct); err != nil {
		t.Fatalf("closing the direct TLS session: %v", err)
	}

	received := make(chan chatMessage, 8)
	served := make(chan error, 1)
	go func() {
		served <- bob.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			// r yields what follows start, so put start back in front.
			var m chatMessage
			d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r))
			if err := d.Decode(&m); err != nil {
				return err
			}
			select {
			case received <- m:
			default:
			}
			return nil
		}))
	}()

	// Bob comes online; the ping round trip makes sure the server has
	// processed his presence before alice sends.
	if err := bob.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
	if err := ping.Send(ctx, bob, jid.MustParse(srv.Domain)); err != nil {
		t.Fatalf("bob ping: %v", err)
	}

	nonce := make([]byte, 8)
	rand.Read(nonce)
	body := "hello bob <&> " + hex.EncodeToString(nonce)
	bobJID := bob.LocalAddr().Bare()
	msg := stanza.Message{To: bobJID, Type: stanza.ChatMessage}.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}}),
	)
	sent := time.Now()
	if err := alice.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}

	select {
	case m := <-received:
		t.Logf("bob got the message %v after sending", time.Since(sent).Round(time.Microsecond))
		if m.Body != body {
			t.Errorf("body = %q, want %q", m.Body, body)
		}
		if m.From != alice.LocalAddr().String() {
			t.Errorf("from = %q, want %q", m.From, alice.LocalAddr())
		}
		if m.Type != "chat" {
			t.Errorf("type = %q, want chat", m.Type)
		}
		if to, err := jid.Parse(m.To); err != nil || !to.Bare().Equal(bobJID) {
			t.Errorf("to = %q, want bob (%v)", m.To, bobJID)
		}
	case err := <-served:
		t.Fatalf("bob stopped serving before the message arrived: %v", err)
	case <-ctx.Done():
		t.Fatalf("no message for bob within %v: %v", testTimeout, ctx.Err())
	}

	// Bob closes his stream; the server answers with its own close and
	// Serve returns.
	if err := bob.Close(); err != nil {
		t.Fatalf("bob close: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("bob Serve: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("bob Serve did not return after close")
	}
}

func TestIntegrationWrongPasswordFails(t *testing.T) {
	srv := StartT(t, Options{Accounts: map[string]string{"carol": "carol-pass"}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// The right password works: the failures below are about the password.
	sess, err := srv.Dial(ctx, "carol", "carol-pass", "")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	CloseSession(sess)

	for _, c := range []struct{ name, local, password string }{
		{"wrong password", "carol", "not-carol-pass"},
		{"unknown account", "mallory", "carol-pass"},
	} {
		for _, direct := range []bool{false, true} {
			sess, err := srv.dial(ctx, direct, srv.TLSConfig(), c.local, c.password, "")
			if err == nil {
				CloseSession(sess)
				t.Errorf("%s (direct TLS %v): logged in", c.name, direct)
				continue
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
				t.Errorf("%s (direct TLS %v): want a not-authorized SASL failure, got %v", c.name, direct, err)
			}
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("ran out of time: %v", ctx.Err())
	}
}

func TestIntegrationUntrustedCertificateFails(t *testing.T) {
	srv := StartT(t, Options{Accounts: map[string]string{"dave": "dave-pass"}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	for name, cfg := range map[string]*tls.Config{
		"empty trust store": {RootCAs: x509.NewCertPool(), ServerName: srv.Domain},
		"wrong name":        {RootCAs: srv.TLSConfig().RootCAs, ServerName: "example.org"},
	} {
		for _, direct := range []bool{false, true} {
			sess, err := srv.dial(ctx, direct, cfg, "dave", "dave-pass", "")
			if err == nil {
				CloseSession(sess)
				t.Errorf("%s (direct TLS %v): logged in without a valid certificate", name, direct)
				continue
			}
			var unknown x509.UnknownAuthorityError
			var host x509.HostnameError
			var opErr *net.OpError
			switch {
			case errors.As(err, &unknown), errors.As(err, &host):
				// Our side refused the certificate.
			case direct && name == "wrong name" && errors.As(err, &opErr) && opErr.Op == "remote error":
				// With direct TLS the name travels as SNI, and Prosody
				// refuses a name it has no certificate for before ours
				// can look at one.
			default:
				t.Errorf("%s (direct TLS %v): want a certificate error, got %T: %v", name, direct, err, err)
			}
		}
	}
}

func TestIntegrationStopEndsOnlyOurServer(t *testing.T) {
	a := StartT(t, Options{})
	b := StartT(t, Options{Domain: "ox.localhost"})
	if a.Addr == b.Addr || a.TLSAddr == b.TLSAddr {
		t.Fatalf("two servers share a port: %s/%s and %s/%s", a.Addr, a.TLSAddr, b.Addr, b.TLSAddr)
	}
	for _, addr := range []string{a.Addr, a.TLSAddr, b.Addr, b.TLSAddr} {
		if strings.HasSuffix(addr, ":5222") || strings.HasSuffix(addr, ":5223") {
			t.Errorf("server on the fixed port %s", addr)
		}
	}
	pid := a.PID()
	start := time.Now()
	if err := a.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(start).Round(time.Millisecond))
	if err := a.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); runtime.GOOS == "linux" && err == nil && !isZombie(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if c, err := net.DialTimeout("tcp", a.Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", a.Addr)
	}
	// The other server is untouched.
	if b.PID() <= 0 {
		t.Fatal("second server has no PID")
	}
	c, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("second server gone after stopping the first: %v", err)
	}
	c.Close()
}

// isZombie reports whether pid is a zombie (exited, not yet reaped).
func isZombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && data[i+2] == 'Z'
}

// TestIntegrationServerFeatures checks over disco#info that the modules OX
// needs are really loaded: the server, the account (PEP, MAM) and the MUC
// component.
func TestIntegrationServerFeatures(t *testing.T) {
	srv := StartT(t, Options{Accounts: map[string]string{"erin": "erin-pass"}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	sess, err := srv.Dial(ctx, "erin", "erin-pass", "disco")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- sess.Serve(nil) }() // routes the IQ results
	defer func() {
		CloseSession(sess)
		select {
		case <-served:
		case <-ctx.Done():
			t.Error("Serve did not return after close")
		}
	}()

	for _, c := range []struct {
		to       string
		identity string // category/type
		features []string
	}{
		{srv.Domain, "server/im", []string{
			"urn:xmpp:carbons:2", "urn:xmpp:ping", "urn:xmpp:blocking",
			"jabber:iq:version", "urn:xmpp:time", "msgoffline", "jabber:iq:private",
		}},
		{srv.JID("erin"), "pubsub/pep", []string{
			"urn:xmpp:mam:2",
			"http://jabber.org/protocol/pubsub#publish",
			"http://jabber.org/protocol/pubsub#publish-options",
		}},
		{srv.MUCDomain, "conference/text", []string{
			"http://jabber.org/protocol/muc",
		}},
	} {
		got, err := disco.GetInfo(ctx, "", jid.MustParse(c.to), sess)
		if err != nil {
			t.Errorf("disco#info %s: %v", c.to, err)
			continue
		}
		ids := map[string]bool{}
		for _, id := range got.Identity {
			ids[id.Category+"/"+id.Type] = true
		}
		if !ids[c.identity] {
			t.Errorf("disco#info %s: no identity %s (have %v)", c.to, c.identity, ids)
		}
		have := map[string]bool{}
		for _, f := range got.Features {
			have[f.Var] = true
		}
		for _, f := range c.features {
			if !have[f] {
				t.Errorf("disco#info %s: no feature %s", c.to, f)
			}
		}
	}
}

func needProsody(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TestIntegrationBadConfigFailsWithLog checks that a server that cannot
// start makes Start fail fast, says why (Prosody's own output), and leaves no
// process behind.
func TestIntegrationBadConfigFailsWithLog(t *testing.T) {
	needProsody(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	srv, err := Start(ctx, t.TempDir(), Options{ExtraConfig: "this is not Lua ("})
	if err == nil {
		srv.Stop()
		t.Fatal("Start succeeded with a broken config")
	}
	t.Logf("failed after %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "problem occurred while reading the config file") {
		t.Errorf("error does not carry Prosody's complaint:\n%v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Start waited for its whole timeout: %v", ctx.Err())
	}
}

// TestIntegrationPortTakenRetries makes the first port pick collide with a
// listener of ours: Start must notice from Prosody's log that the port is not
// Prosody's (though it accepts connections), and retry on fresh ports.
func TestIntegrationPortTakenRetries(t *testing.T) {
	needProsody(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[0] = taken
		}
		return ports, err
	}
	defer func() { pickPorts = freePorts }()

	srv := StartT(t, Options{Accounts: map[string]string{"frank": "frank-pass"}})
	if calls != 2 {
		t.Errorf("picked ports %d times, want 2", calls)
	}
	if srv.Addr == l.Addr().String() {
		t.Fatalf("server claims the port of our own listener %s", srv.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sess, err := srv.Dial(ctx, "frank", "frank-pass", "")
	if err != nil {
		t.Fatal(err)
	}
	CloseSession(sess)
}

// TestIntegrationHTTPFileShare: with Options.HTTPFileShare Prosody serves
// HTTPS on HTTPSAddr with the throw-away CA, for the upload component.
func TestIntegrationHTTPFileShare(t *testing.T) {
	needProsody(t)
	srv := StartT(t, Options{HTTPFileShare: true})
	if !strings.HasPrefix(srv.HTTPSAddr, "127.0.0.1:") || srv.UploadDomain != "upload."+srv.Domain {
		t.Fatalf("HTTPSAddr %q, UploadDomain %q", srv.HTTPSAddr, srv.UploadDomain)
	}
	c, err := tls.Dial("tcp", srv.HTTPSAddr, srv.TLSConfig())
	if err != nil {
		t.Fatalf("HTTPS on %s: %v", srv.HTTPSAddr, err)
	}
	c.Close()
}
