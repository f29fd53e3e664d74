package ox_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/ejabberd"
)

// ejabberd 23.01 offers SCRAM-SHA-1-PLUS over TLS 1.3 but announces no
// binding type (XEP-0440) and accepts only tls-unique, which TLS 1.3 does
// not have (issue 13). ox must log in without -PLUS there; forcing -PLUS
// gives a channel-binding error, told apart from a wrong password.
func TestIntegrationDialEjabberdMechanism(t *testing.T) {
	srv := ejabberd.StartT(t, ejabberd.Options{Accounts: map[string]string{"alice": "alice-pass"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// TLS 1.2 has tls-unique, the binding ejabberd 23.01 takes; TLS 1.3
	// (the default) has none that it takes.
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := srv.TLSConfig()
		cfg.MinVersion, cfg.MaxVersion = version, version
		a := ox.Account{JID: jid.MustParse(srv.JID("alice")), Password: "alice-pass", Server: srv.Addr, TLS: cfg}
		sess, got, err := ox.DialNegotiated(ctx, a)
		if err != nil {
			t.Fatalf("TLS %x: %v", version, err)
		}
		ox.CloseSession(sess)
		t.Logf("ejabberd: %+v", got)
		if got.TLSVersion != version || got.Mechanism != "SCRAM-SHA-1" || got.ChannelBinding != "" {
			t.Errorf("TLS %x, mechanism %s binding %q; want TLS %x, SCRAM-SHA-1 without binding (offered %v, bindings announced %v)",
				got.TLSVersion, got.Mechanism, got.ChannelBinding, version, got.Offered, got.Announced)
		}
		if !got.StreamManagement {
			t.Errorf("TLS %x: stream management (XEP-0198, mod_stream_mgmt) not enabled", version)
		}

		wrong := a
		wrong.Password = "wrong"
		_, err = ox.Dial(ctx, wrong)
		var ae *ox.AuthError
		if !errors.As(err, &ae) || ae.Kind != ox.AuthRefused {
			t.Errorf("TLS %x, wrong password: Dial = %v, want an AuthError of kind refused", version, err)
		}

		forced := a
		forced.SASL = "SCRAM-SHA-1-PLUS"
		sess, got, err = ox.DialNegotiated(ctx, forced)
		switch version {
		case tls.VersionTLS12: // tls-unique, which ejabberd takes
			if err != nil || got.ChannelBinding != "tls-unique" {
				t.Errorf("TLS 1.2, forced SCRAM-SHA-1-PLUS: binding %q, error %v; want tls-unique and a session", got.ChannelBinding, err)
			} else {
				ox.CloseSession(sess)
			}
		default: // tls-exporter, which ejabberd 23.01 refuses
			if !errors.As(err, &ae) || ae.Kind != ox.AuthChannelBinding {
				t.Errorf("TLS 1.3, forced SCRAM-SHA-1-PLUS: Dial = %v, want an AuthError of kind channel binding", err)
			}
		}
	}
}
