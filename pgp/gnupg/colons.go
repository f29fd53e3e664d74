package gnupg

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/ox/ox/pgp"
)

// A colon listing (gpg --with-colons, doc/DETAILS in GnuPG) is read into
// listedKeys: one per "pub" or "sec" record, with the records that follow
// it. The fields used (1-based, as in DETAILS):
//
//	 1 record type: pub sec sub ssb uid fpr rev sig ...
//	 2 validity: r revoked, e expired, i invalid, ...; for sig/rev records
//	   with --with-sig-check: ! good, - bad, ? not checked
//	 3 key length, 4 public key algorithm, 5 key ID
//	 6 creation time, 7 expiry time (seconds since the epoch)
//	10 user ID (C-escaped), or the fingerprint in "fpr" records
//	11 signature class in sig/rev records ("20x": key revocation)
//	12 capabilities: e s c a for this key (upper case: the whole key);
//	   D: the key is disabled
//	15 secret key: "+" present, "#" a stub only, else a card's serial
//	17 curve name
type listedKey struct {
	pub       listedSub // the primary key
	secret    bool      // a sec record: listed from secret material
	uids      []listedUID
	subs      []listedSub
	revs      []listedSig // revocations of the primary key (--with-sig-check)
	sigChecks bool        // the listing had signatures
	disabled  bool
	// alwaysValid: the user's trust model is "always", under which gpg
	// lists every key with unknown validity ("-") and treats it as valid.
	alwaysValid bool
}

type listedSub struct {
	validity  string
	algo      int
	bits      int
	keyID     uint64
	created   time.Time
	expires   time.Time
	caps      string
	token     string // field 15
	curve     string
	fpr       pgp.Fingerprint
	hasFpr    bool
	revs      []listedSig
	isPrimary bool
}

type listedUID struct {
	validity string
	uid      string
	revs     []listedSig
	certs    []listedSig // its "sig" records, self-signatures too (certify.go)
}

type listedSig struct {
	good      bool
	issuer    uint64
	created   time.Time
	class     string
	issuerFpr pgp.Fingerprint // field 13, where gpg knows it
	// reason and comment: a revocation's reason code (after the comma in
	// field 11, "20x,02") and its text (field 21).
	reason  pgp.RevocationReason
	comment string
}

// parseColons reads a colon listing. Records it does not know are skipped,
// as DETAILS asks of programs.
func parseColons(out []byte) []*listedKey {
	var keys []*listedKey
	var cur *listedKey
	var lastSub *listedSub
	var lastUID *listedUID
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), ":")
		if len(f) < 2 {
			continue
		}
		field := func(i int) string { // 1-based
			if i-1 < len(f) {
				return f[i-1]
			}
			return ""
		}
		switch f[0] {
		case "pub", "sec":
			cur = &listedKey{secret: f[0] == "sec"}
			cur.pub = subFrom(field)
			cur.pub.isPrimary = true
			cur.disabled = strings.Contains(field(12), "D")
			keys = append(keys, cur)
			lastSub, lastUID = &cur.pub, nil
		case "sub", "ssb":
			if cur == nil {
				continue
			}
			cur.subs = append(cur.subs, subFrom(field))
			lastSub, lastUID = &cur.subs[len(cur.subs)-1], nil
		case "fpr":
			if lastSub == nil || lastSub.hasFpr {
				continue
			}
			if fp, err := pgp.ParseFingerprint(field(10)); err == nil {
				lastSub.fpr, lastSub.hasFpr = fp, true
			}
		case "uid":
			if cur == nil {
				continue
			}
			cur.uids = append(cur.uids, listedUID{validity: field(2), uid: unescape(field(10))})
			lastUID, lastSub = &cur.uids[len(cur.uids)-1], nil
		case "rev", "sig":
			if cur == nil {
				continue
			}
			cur.sigChecks = true
			if f[0] != "rev" {
				if lastUID != nil {
					lastUID.certs = append(lastUID.certs, sigRecord(field))
				}
				continue
			}
			s := sigRecord(field)
			switch {
			case lastUID != nil:
				lastUID.revs = append(lastUID.revs, s)
			case lastSub != nil && !lastSub.isPrimary:
				lastSub.revs = append(lastSub.revs, s)
			default:
				cur.revs = append(cur.revs, s)
			}
		}
	}
	return keys
}

func subFrom(field func(int) string) listedSub {
	algo, _ := strconv.Atoi(field(4))
	bits, _ := strconv.Atoi(field(3))
	return listedSub{
		validity: field(2),
		algo:     algo,
		bits:     bits,
		keyID:    parseKeyID(field(5)),
		created:  parseTime(field(6)),
		expires:  parseTime(field(7)),
		caps:     field(12),
		token:    field(15),
		curve:    field(17),
	}
}

func parseKeyID(s string) uint64 {
	n, _ := strconv.ParseUint(s, 16, 64)
	return n
}

// parseTime reads seconds since the epoch (--fixed-list-mode), or the ISO
// form "20261126T135301" gpg may print; empty or 0 is the zero time.
func parseTime(s string) time.Time {
	if s == "" || s == "0" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC()
	}
	if t, err := time.Parse("20060102T150405", s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// unescape undoes gpg's C-style escapes in colon fields ("\x3a" for ":").
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// capabilities reads the lower-case letters of field 12: what this key
// (not the whole key) may do.
func capabilities(s string) pgp.Capabilities {
	return pgp.Capabilities{
		Certify:      strings.Contains(s, "c"),
		Sign:         strings.Contains(s, "s"),
		Encrypt:      strings.Contains(s, "e"),
		Authenticate: strings.Contains(s, "a"),
	}
}

// algoName names algorithms as the native backend does.
func algoName(s listedSub) string {
	switch s.algo {
	case 22:
		if s.curve == "" || s.curve == "ed25519" || s.curve == "Ed25519" {
			return "ed25519"
		}
		return s.curve
	case 18:
		if s.curve == "cv25519" || s.curve == "Curve25519" {
			return "cv25519"
		}
		return "ecdh"
	case 1, 2, 3:
		if s.bits > 0 {
			return "rsa" + strconv.Itoa(s.bits)
		}
		return "rsa"
	case 19:
		return "ecdsa"
	}
	return "algo" + strconv.Itoa(s.algo)
}

// secretAtHand tells whether a secret listing shows usable secret material
// for this (sub)key: "+" (in gpg-agent) or a card's serial number, not "#"
// (a stub: the secret is elsewhere).
func (s listedSub) secretAtHand() bool { return s.token != "" && s.token != "#" }

// info converts a listed key to a pgp.KeyInfo.
//
// gpg marks a key revoked or expired in the validity field; ox records
// expiry as dates, so that the summary stays true as time passes. A key
// disabled in GnuPG (gpg --edit-key KEY disable; capability flag "D") is
// reported as revoked, since KeyInfo has no field for it and GnuPG itself
// refuses to encrypt to it; RevokedAt stays zero then.
//
// Where the primary key is revoked, gpg marks every user ID and subkey
// revoked too; the native backend (and KeyInfo's documentation) count only
// their own revocations, which a listing with signatures tells apart
// (sigChecks): without one, a revoked key's user IDs are all kept.
func (k *listedKey) info() pgp.KeyInfo {
	p := k.pub
	ki := pgp.KeyInfo{
		Fingerprint:  p.fpr,
		Algorithm:    algoName(p),
		Created:      p.created,
		Expires:      p.expires,
		Capabilities: capabilities(p.caps),
	}
	keyRevoked := p.validity == "r"
	if keyRevoked {
		noteRevocations(&ki, k.revs)
		ki.Revoked = true // also without a listing of its signatures
	}
	if k.disabled {
		ki.Revoked = true
	}
	for _, u := range k.uids {
		revoked := u.validity == "r"
		if keyRevoked && k.sigChecks {
			revoked = false
			for _, r := range u.revs {
				if r.good && strings.HasPrefix(r.class, "30") && r.issuer == p.keyID {
					revoked = true
				}
			}
		} else if keyRevoked {
			revoked = false
		}
		if !revoked {
			ki.UserIDs = append(ki.UserIDs, u.uid)
		}
	}
	sort.Strings(ki.UserIDs)
	ki.Certifications = k.certifications(ki.UserIDs)
	ki.Validity = k.validity()
	for _, s := range k.subs {
		revoked := s.validity == "r"
		if keyRevoked {
			revoked = false
			for _, r := range s.revs {
				if r.good && strings.HasPrefix(r.class, "28") {
					revoked = true
				}
			}
		}
		ki.Subkeys = append(ki.Subkeys, pgp.Subkey{
			Fingerprint:  s.fpr,
			Algorithm:    algoName(s),
			Created:      s.created,
			Expires:      minExpiry(s.expires, p.expires),
			Revoked:      revoked,
			Capabilities: capabilities(s.caps),
		})
	}
	return ki
}

// minExpiry: a subkey is unusable once the primary key has expired.
func minExpiry(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

// hasSecret tells whether some part of the key has its secret at hand.
func (k *listedKey) hasSecret() bool {
	if k.pub.secretAtHand() {
		return true
	}
	for _, s := range k.subs {
		if s.secretAtHand() {
			return true
		}
	}
	return false
}

// keyIDs are the key IDs of the primary key and its subkeys.
func (k *listedKey) keyIDs() []uint64 {
	ids := []uint64{k.pub.keyID}
	for _, s := range k.subs {
		ids = append(ids, s.keyID)
	}
	return ids
}

// validity is gpg's validity of the key for OX (pgp.KeyInfo.Validity), from
// a listing under the user's trust model: field 2 of the uid record of its
// xmpp: user ID (the lowest, where it has several that are not revoked), or
// of the pub record where it has none. A revoked or expired key is that,
// whatever its user IDs say.
//
// The letters (GnuPG's doc/DETAILS): u ultimate, f full, m marginal,
// n never, r revoked, e expired; "-" unknown, "q" undefined, "o" new to
// the trustdb, "i" invalid, and an empty field are all unknown here.
func (k *listedKey) validity() string {
	switch {
	case k.pub.validity == "r":
		return pgp.ValidityRevoked
	case k.pub.validity == "e":
		return pgp.ValidityExpired
	}
	v, found := "", false
	for _, u := range k.uids {
		if _, ok := pgp.JIDFromUserID(u.uid); !ok || u.validity == "r" {
			continue
		}
		if w := validityName(u.validity); !found || validityRank(w) < validityRank(v) {
			v, found = w, true
		}
	}
	if !found {
		v = validityName(k.pub.validity)
	}
	if v == pgp.ValidityUnknown && k.alwaysValid {
		v = pgp.ValidityFull
	}
	return v
}

func validityName(letter string) string {
	switch letter {
	case "u":
		return pgp.ValidityUltimate
	case "f":
		return pgp.ValidityFull
	case "m":
		return pgp.ValidityMarginal
	case "n":
		return pgp.ValidityNever
	case "r":
		return pgp.ValidityRevoked
	case "e":
		return pgp.ValidityExpired
	}
	return pgp.ValidityUnknown
}

// validityRank orders validities from the least valid up.
func validityRank(v string) int {
	switch v {
	case pgp.ValidityUnknown:
		return 1
	case pgp.ValidityMarginal:
		return 2
	case pgp.ValidityFull:
		return 3
	case pgp.ValidityUltimate:
		return 4
	}
	return 0 // never, expired, revoked
}
