package ox

import (
	"errors"
	"testing"
)

func TestChooseMechanism(t *testing.T) {
	exporter := []string{"tls-exporter", "tls-server-end-point"}
	cases := []struct {
		name               string
		offered, announced []string
		binding, forced    string
		want               string
		wantKind           AuthKind // when want is ""
	}{
		{"ejabberd 23.01 on TLS 1.3: -PLUS offered, nothing announced",
			[]string{"PLAIN", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, nil, "tls-exporter", "", "SCRAM-SHA-1", 0},
		{"Prosody 0.12 on TLS 1.3", []string{"SCRAM-SHA-1", "PLAIN"}, nil, "tls-exporter", "", "SCRAM-SHA-1", 0},
		{"announced and given", []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}, exporter, "tls-exporter", "", "SCRAM-SHA-256-PLUS", 0},
		{"announced, another type given", []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}, []string{"tls-unique"}, "tls-exporter", "", "SCRAM-SHA-256", 0},
		{"TLS 1.2 with tls-unique announced", []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, []string{"tls-unique"}, "tls-unique", "", "SCRAM-SHA-1-PLUS", 0},
		{"no binding on this connection", []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, exporter, "", "", "SCRAM-SHA-1", 0},
		{"SHA-256 before SHA-1", []string{"SCRAM-SHA-1", "SCRAM-SHA-256"}, nil, "tls-exporter", "", "SCRAM-SHA-256", 0},
		{"PLAIN only when forced", []string{"PLAIN"}, nil, "tls-exporter", "", "", AuthMechanism},
		{"forced PLAIN", []string{"PLAIN", "SCRAM-SHA-1"}, nil, "tls-exporter", "PLAIN", "PLAIN", 0},
		{"forced -PLUS without announcement", []string{"SCRAM-SHA-1-PLUS"}, nil, "tls-exporter", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1-PLUS", 0},
		{"forced, not offered", []string{"SCRAM-SHA-1"}, nil, "tls-exporter", "SCRAM-SHA-256", "", AuthMechanism},
		{"forced -PLUS, no binding", []string{"SCRAM-SHA-1-PLUS"}, nil, "", "SCRAM-SHA-1-PLUS", "", AuthMechanism},
		{"nothing offered", nil, nil, "tls-exporter", "", "", AuthMechanism},
	}
	for _, tc := range cases {
		got, err := chooseMechanism(tc.offered, tc.announced, tc.binding, tc.forced)
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
			}
			continue
		}
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
			t.Errorf("%s: got %q, %v; want an AuthError of kind %v", tc.name, got, err, tc.wantKind)
		}
	}
}

func TestFailureKind(t *testing.T) {
	cases := []struct {
		mech, cond, text string
		want             AuthKind
	}{
		{"SCRAM-SHA-1", "not-authorized", "", AuthRefused},
		{"SCRAM-SHA-1-PLUS", "not-authorized", "", AuthRefused},
		{"SCRAM-SHA-1-PLUS", "not-authorized", "Invalid channel binding", AuthChannelBinding}, // ejabberd 23.01
		{"SCRAM-SHA-1", "not-authorized", "Invalid channel binding", AuthRefused},             // no binding was sent
		{"SCRAM-SHA-256-PLUS", "malformed-request", "channel-binding not supported", AuthChannelBinding},
		{"SCRAM-SHA-256", "malformed-request", "", AuthServer},
		{"SCRAM-SHA-256", "temporary-auth-failure", "", AuthServer},
		{"SCRAM-SHA-256", "account-disabled", "", AuthRefused},
		{"PLAIN", "mechanism-too-weak", "", AuthMechanism},
		{"SCRAM-SHA-256", "invalid-mechanism", "", AuthMechanism},
	}
	for _, tc := range cases {
		if got := failureKind(tc.mech, tc.cond, tc.text); got != tc.want {
			t.Errorf("failureKind(%s, %s, %q) = %v, want %v", tc.mech, tc.cond, tc.text, got, tc.want)
		}
	}
}
