package trust

import "fmt"

// Recorded is a state the user's store holds for a key: the user's own
// decision, or the state a policy gave the key when it was first seen.
type Recorded struct {
	State  string // State.String()
	Reason string
}

// Verdict is the trust in one key of a contact, and where it came from.
type Verdict struct {
	State State
	// FromGnuPG: the state is the user's GnuPG validity of the key, not a
	// decision (it follows the keyring, and is not recorded).
	FromGnuPG bool
	// Record: the key was never judged; State is the policy's first
	// decision, to be recorded with Reason.
	Record bool
	Reason string
}

// Judge is the one decision of how far a contact's key is trusted, from
// what is known of it:
//
//   - the user's own decision in ox (verify, reject) wins over everything;
//   - otherwise, with a backend that has a trust model of its own (validity
//     is not empty: GnuPG), the state is that model's (FromValidity), read
//     anew each time and never recorded;
//   - otherwise the state recorded when the key was first seen;
//   - and a key never seen gets its first state from the policy (Initial),
//     to be recorded.
//
// rec is nil for a key with nothing recorded. policy and contact are asked
// only when needed (each is a lookup in the user's store).
func Judge(rec *Recorded, validity string, policy func() (Policy, error), contact func() (Contact, error)) (Verdict, error) {
	decided := rec != nil && !ByPolicy(rec.Reason) && rec.State != Undecided.String()
	if validity != "" && !decided {
		p := BTBV
		if validity == "marginal" {
			var err error
			if p, err = policy(); err != nil {
				return Verdict{State: Undecided}, err
			}
		}
		st, why := FromValidity(p, validity)
		return Verdict{State: st, FromGnuPG: true, Reason: why}, nil
	}
	if rec != nil {
		st, err := ParseState(rec.State)
		if err != nil {
			return Verdict{State: Undecided}, fmt.Errorf("trust: recorded state: %w", err)
		}
		return Verdict{State: st, Reason: rec.Reason}, nil
	}
	p, err := policy()
	if err != nil {
		return Verdict{State: Undecided}, err
	}
	c, err := contact()
	if err != nil {
		return Verdict{State: Undecided}, err
	}
	st, why := Initial(p, c)
	return Verdict{State: st, Record: true, Reason: why}, nil
}
