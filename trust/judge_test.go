package trust

import (
	"errors"
	"testing"
)

func TestJudge(t *testing.T) {
	pol := func(p Policy) func() (Policy, error) { return func() (Policy, error) { return p, nil } }
	ct := func(c Contact) func() (Contact, error) { return func() (Contact, error) { return c, nil } }
	never := func() (Policy, error) { return "", errors.New("not asked") }
	noContact := func() (Contact, error) { return Contact{}, errors.New("not asked") }
	for _, c := range []struct {
		name     string
		rec      *Recorded
		validity string
		policy   func() (Policy, error)
		contact  func() (Contact, error)
		want     Verdict
	}{
		{"never seen, btbv", nil, "", pol(BTBV), ct(Contact{}), Verdict{State: Blind, Record: true, Reason: "policy btbv: trusted blindly until one of the contact's keys is verified"}},
		{"never seen, manual", nil, "", pol(Manual), ct(Contact{}), Verdict{State: Undecided, Record: true, Reason: "policy manual: only verified keys are trusted"}},
		{"the user verified", &Recorded{"verified", "decided by you"}, "", never, noContact, Verdict{State: Verified, Reason: "decided by you"}},
		{"the policy's first state", &Recorded{"blind", "policy btbv: x"}, "", never, noContact, Verdict{State: Blind, Reason: "policy btbv: x"}},
		{"GnuPG decides without a decision", &Recorded{"blind", "policy btbv: x"}, "unknown", never, noContact, Verdict{State: Undecided, FromGnuPG: true, Reason: "GnuPG: validity unknown, not valid in GnuPG"}},
		{"the user's decision overrides GnuPG", &Recorded{"rejected", "decided by you"}, "full", never, noContact, Verdict{State: Rejected, Reason: "decided by you"}},
		{"marginal under manual", nil, "marginal", pol(Manual), noContact, Verdict{State: Undecided, FromGnuPG: true, Reason: "GnuPG: validity marginal, and policy manual trusts only verified keys"}},
	} {
		got, err := Judge(c.rec, c.validity, c.policy, c.contact)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}
