package ox_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/prosody"
)

// The test pins the mechanism ox picks on Prosody, and that a wrong
// password is told as such.
func TestIntegrationDialProsodyMechanism(t *testing.T) {
	srv := prosody.StartT(t, prosody.Options{Accounts: map[string]string{"alice": "alice-pass"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := srv.Account("alice", "alice-pass", "", false)
	if err != nil {
		t.Fatal(err)
	}
	sess, got, err := ox.DialNegotiated(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ox.CloseSession(sess)
	t.Logf("prosody: %+v", got)
	if got.TLSVersion != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", got.TLSVersion)
	}
	// Prosody 0.12 on TLS 1.3 offers SCRAM-SHA-1 and PLAIN, no -PLUS.
	if got.Mechanism != "SCRAM-SHA-1" || got.ChannelBinding != "" {
		t.Errorf("mechanism %s binding %q, want SCRAM-SHA-1 without binding (offered %v, bindings announced %v)", got.Mechanism, got.ChannelBinding, got.Offered, got.Announced)
	}
	if !got.StreamManagement {
		t.Error("stream management (XEP-0198, mod_smacks) not enabled")
	}

	a.Password = "wrong"
	_, err = ox.Dial(ctx, a)
	var ae *ox.AuthError
	if !errors.As(err, &ae) || ae.Kind != ox.AuthRefused || ae.Condition != "not-authorized" {
		t.Fatalf("wrong password: Dial = %v, want an AuthError of kind refused, not-authorized", err)
	}
}
