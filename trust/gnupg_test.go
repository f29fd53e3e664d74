package trust

import "testing"

func TestFromValidity(t *testing.T) {
	for _, c := range []struct {
		p        Policy
		validity string
		want     State
	}{
		{BTBV, "ultimate", Verified},
		{BTBV, "full", Verified},
		{Manual, "full", Verified},
		{BTBV, "marginal", Blind},
		{TOFU, "marginal", Blind},
		{BlindPolicy, "marginal", Blind},
		{Manual, "marginal", Undecided},
		{BTBV, "never", Rejected},
		{BlindPolicy, "never", Rejected},
		{BTBV, "unknown", Undecided},
		{BlindPolicy, "unknown", Undecided},
		{BTBV, "expired", Undecided},
		{BTBV, "revoked", Undecided},
		{BTBV, "banana", Undecided},
	} {
		if got, why := FromValidity(c.p, c.validity); got != c.want || why == "" || ByPolicy(why) {
			t.Errorf("FromValidity(%s, %s) = %v %q, want %v", c.p, c.validity, got, why, c.want)
		}
	}
}

// Every state a policy gives says so, so that it is told from the user's
// decisions.
func TestInitialReasonsByPolicy(t *testing.T) {
	for _, p := range []Policy{BTBV, TOFU, Manual, BlindPolicy} {
		for _, c := range []Contact{{}, {KnownKeys: 1, AnyVerified: true}, {FirstContact: true}, {KnownKeys: 2}} {
			if _, why := Initial(p, c); !ByPolicy(why) {
				t.Errorf("Initial(%s, %+v): reason %q does not start with \"policy \"", p, c, why)
			}
		}
	}
	if ByPolicy("decided by you") {
		t.Error("a decision by the user taken for a policy's")
	}
}
