package trust

import "strings"

// FromValidity is the state of a key whose backend has a trust model of its
// own (GnuPG), from that model's validity of the key (pgp.KeyInfo.Validity),
// where the user has made no decision in ox. It follows the keyring as it
// changes, so it is not recorded.
//
//   - ultimate, full: Verified. The user (or introducers they trust) certified
//     the key, or it is their own; TOFU's policy good; the model "always".
//   - marginal: Blind, as gpg itself encrypts to it (with a warning): trusted
//     without the user's certification, as TOFU's policy auto leaves every
//     key, or certified by marginally trusted introducers only. Under the
//     policy Manual, which trusts only what the user verified, Undecided.
//   - never: Rejected (TOFU's policy bad).
//   - unknown, and anything else: Undecided, so that a key GnuPG does not
//     deem valid is never encrypted to without the user's decision (gpg
//     certifies it, or 'ox trust verify' overrides). Expired and revoked
//     keys are unusable anyway.
//
// The other policies give way to the user's GnuPG trust model: BTBV, TOFU
// and Blind would trust keys that GnuPG deems invalid.
func FromValidity(p Policy, validity string) (State, string) {
	switch validity {
	case "ultimate", "full":
		return Verified, "GnuPG: validity " + validity
	case "marginal":
		if p == Manual {
			return Undecided, "GnuPG: validity marginal, and policy manual trusts only verified keys"
		}
		return Blind, "GnuPG: validity marginal"
	case "never":
		return Rejected, "GnuPG: validity never"
	}
	return Undecided, "GnuPG: validity " + validity + ", not valid in GnuPG"
}

// ByPolicy reports whether a recorded trust state was set by a policy
// (its reason is one of Initial's, which all start "policy "), rather than
// by the user.
func ByPolicy(reason string) bool { return strings.HasPrefix(reason, "policy ") }
