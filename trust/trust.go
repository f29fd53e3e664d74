package trust

import (
	"fmt"
	"strings"
)

// State is what the user decided (or ox decided for them) about one key of
// one contact.
type State int

// The states.
const (
	// Undecided: neither trusted nor rejected; not encrypted to, and what it
	// signs is marked.
	Undecided State = iota
	// Blind: trusted without verification (trust on first use, or blind
	// trust before verification).
	Blind
	// Verified: the user compared the fingerprint with the contact's.
	Verified
	// Rejected: never encrypted to; what it signs is refused.
	Rejected
)

func (s State) String() string {
	switch s {
	case Undecided:
		return "undecided"
	case Blind:
		return "blind"
	case Verified:
		return "verified"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ParseState reads a state's name.
func ParseState(s string) (State, error) {
	for _, st := range []State{Undecided, Blind, Verified, Rejected} {
		if strings.EqualFold(s, st.String()) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("trust: unknown state %q", s)
}

// Trusted reports whether a message may be encrypted to a key in state s.
func (s State) Trusted() bool { return s == Blind || s == Verified }

// Policy gives a newly seen key its first state.
type Policy string

// The policies.
const (
	// BTBV, blind trust before verification (the default): a contact's keys
	// are trusted blindly until the user verifies one of them; from then on
	// a new key of that contact stays undecided until verified.
	BTBV Policy = "btbv"
	// TOFU, trust on first use: the keys seen at first contact are trusted,
	// later ones are undecided.
	TOFU Policy = "tofu"
	// Manual: only verified keys are trusted.
	Manual Policy = "manual"
	// Blindly trust every key.
	BlindPolicy Policy = "blind"
)

// ParsePolicy reads a policy's name; "" is the default, BTBV.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return BTBV, nil
	case BTBV, TOFU, Manual, BlindPolicy:
		return p, nil
	}
	return "", fmt.Errorf("trust: unknown policy %q: want btbv, tofu, manual or blind", s)
}

// Contact is what is known of a contact when one of its keys is seen for the
// first time.
type Contact struct {
	// KnownKeys is how many of its keys ox had recorded before this one.
	KnownKeys int
	// AnyVerified: the user has verified one of its keys.
	AnyVerified bool
	// FirstContact: this key arrived with the first keys ox ever saw for
	// the contact (the same fetch).
	FirstContact bool
}

// Initial is the state a newly seen key gets under policy p.
func Initial(p Policy, c Contact) (State, string) {
	switch p {
	case BlindPolicy:
		return Blind, "policy blind"
	case Manual:
		return Undecided, "policy manual: only verified keys are trusted"
	case TOFU:
		if c.FirstContact {
			return Blind, "policy tofu: seen at first contact"
		}
		return Undecided, "policy tofu: a key added after first contact"
	default:
		if c.AnyVerified {
			return Undecided, "policy btbv: the contact has a verified key, so a new one waits for verification"
		}
		return Blind, "policy btbv: trusted blindly until one of the contact's keys is verified"
	}
}
