package trust

import "testing"

func TestInitial(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		c    Contact
		want State
	}{
		{BTBV, Contact{FirstContact: true}, Blind},
		{BTBV, Contact{KnownKeys: 1}, Blind},
		{BTBV, Contact{KnownKeys: 1, AnyVerified: true}, Undecided},
		{TOFU, Contact{FirstContact: true}, Blind},
		{TOFU, Contact{KnownKeys: 1}, Undecided},
		{Manual, Contact{FirstContact: true}, Undecided},
		{BlindPolicy, Contact{KnownKeys: 3, AnyVerified: true}, Blind},
	} {
		if got, why := Initial(c.p, c.c); got != c.want || why == "" {
			t.Errorf("%s %+v: %v (%q), want %v", c.p, c.c, got, why, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	if p, err := ParsePolicy(""); err != nil || p != BTBV {
		t.Errorf("default policy %v %v", p, err)
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("unknown policy accepted")
	}
	for _, s := range []State{Undecided, Blind, Verified, Rejected} {
		if got, err := ParseState(s.String()); err != nil || got != s {
			t.Errorf("%v: %v %v", s, got, err)
		}
	}
	if Undecided.Trusted() || Rejected.Trusted() || !Blind.Trusted() || !Verified.Trusted() {
		t.Error("Trusted")
	}
}
