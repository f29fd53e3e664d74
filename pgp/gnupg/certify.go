package gnupg

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// The web of trust: certifying a contact's user ID with gpg, exporting the
// own key with the certifications the user accepted, and reading the
// certifications of a key from gpg's listing of its signatures.

// OpenPGP packet tags the export filter looks at (RFC 4880 §4.3).
const (
	tagSignature     = 2
	tagUserID        = 13
	tagUserAttribute = 17
)

// Certify certifies the user ID uid of target with the own key signer (see
// pgp.Backend):
//
//	gpg --local-user SIGNER --quick-sign-key TARGET UID
//
// an exportable certification (not --quick-lsign-key: it goes to the
// contact), of gpg's default certification level, 0 (signature type 0x10),
// stored in the keyring, where gpg's trust model (pgp, tofu+pgp) counts
// it. gpg-agent makes the signature, asking for the passphrase (pinentry)
// if the key has one. The returned key is gpg's export of uid, with only
// its self-signatures and signer's certification kept (see
// exportCertified).
func (b *Backend) Certify(ctx context.Context, signer, target pgp.Fingerprint, uid string) ([]byte, error) {
	if signer == target {
		return nil, fmt.Errorf("pgp: key %s cannot certify itself: a certification is another key's statement", signer)
	}
	sk, err := b.Key(ctx, signer)
	if err != nil {
		return nil, err
	}
	now := b.clock()
	if !sk.Secret {
		return nil, fmt.Errorf("%w: cannot certify with %s", pgp.ErrNoSecretKey, signer)
	}
	if sk.Revoked || sk.Expired(now) {
		return nil, fmt.Errorf("cannot certify: %w", sk.Usable(now))
	}
	if !sk.Capabilities.Certify {
		return nil, fmt.Errorf("%w: the primary key of %s may not certify", pgp.ErrUnsupportedKey, signer)
	}
	tk, err := b.Key(ctx, target)
	if err != nil {
		return nil, err
	}
	if tk.Revoked || tk.Expired(now) {
		return nil, fmt.Errorf("pgp: will not certify key %s: %w", target, tk.Usable(now))
	}
	if !hasUID(tk, uid) {
		return nil, fmt.Errorf("%w: key %s has no user ID %q", pgp.ErrUnsupportedKey, target, uid)
	}
	if strings.Contains(uid, "&&") {
		// gpg's filter expressions cannot say it; see matchingUID.
		return nil, fmt.Errorf("%w: user ID %q cannot be exported on its own", pgp.ErrUnsupportedKey, uid)
	}
	if _, ok := tk.CertifiedBy(signer, uid); !ok {
		r, err := b.run(ctx, nil, 0, "--local-user", signer.String(), "--quick-sign-key", target.String(), uid)
		if err != nil {
			return nil, err
		}
		if r.exit != 0 {
			return nil, b.gpgError("certify", r, target.String())
		}
		if tk, err = b.Key(ctx, target); err != nil {
			return nil, err
		}
		if _, ok := tk.CertifiedBy(signer, uid); !ok {
			return nil, &Error{Op: "certify", Err: ErrGPG, Key: target.String(),
				Detail: nonEmpty(r.detail(), "gpg made no certification of "+uid+" by "+signer.String())}
		}
	}
	return b.exportCertified(ctx, target, uid, []pgp.Fingerprint{signer})
}

func hasUID(k pgp.KeyInfo, uid string) bool {
	for _, u := range k.UserIDs {
		if u == uid {
			return true
		}
	}
	return false
}

// ExportPublicWith writes the key's transferable public key (see
// pgp.Backend): the minimal export of ExportPublic, plus the
// certifications of the xmpp: user ID by opts.Certifiers.
func (b *Backend) ExportPublicWith(ctx context.Context, fpr pgp.Fingerprint, minimalFor *jid.JID, opts pgp.ExportOptions) ([]byte, error) {
	if minimalFor == nil || len(opts.Certifiers) == 0 {
		return b.ExportPublic(ctx, fpr, minimalFor)
	}
	ki, err := b.Key(ctx, fpr)
	if err != nil {
		return nil, err
	}
	uid, ok := matchingUID(ki, *minimalFor)
	if !ok {
		return nil, &Error{Op: "export", Err: pgp.ErrUnsupportedKey, Key: fpr.String(),
			Detail: "the key has no user ID " + pgp.UserID(*minimalFor),
			Advice: "add it: gpg --quick-add-uid " + fpr.String() + " " + pgp.UserID(*minimalFor)}
	}
	return b.exportCertified(ctx, fpr, uid, opts.Certifiers)
}

// exportCertified exports the key with only the user ID uid:
//
//	gpg --export --export-filter 'keep-uid=uid = UID'
//	    --export-filter 'drop-subkey=usage = a' FPR
//
// and keeps, of the signatures on that user ID, the self-signatures and
// those by the keys certifiers. GnuPG 2.2 filters signatures only on import
// (drop-sig), and export-minimal would drop every certification, so ox
// drops the others itself, reading no more of a signature packet than its
// issuer (see keepSignatures).
func (b *Backend) exportCertified(ctx context.Context, fpr pgp.Fingerprint, uid string, certifiers []pgp.Fingerprint) ([]byte, error) {
	r, err := b.run(ctx, nil, 0, "--export", "--no-armor",
		"--export-filter", "keep-uid=uid = "+uid,
		"--export-filter", "drop-subkey=usage = a",
		"--", fpr.String())
	if err != nil {
		return nil, err
	}
	if r.exit != 0 || len(r.stdout) == 0 {
		return nil, b.gpgError("export", r, fpr.String())
	}
	out, err := keepSignatures(r.stdout, append([]pgp.Fingerprint{fpr}, certifiers...))
	if err != nil {
		return nil, fmt.Errorf("%w: gpg's export of %s: %v", pgp.ErrMalformed, fpr, err)
	}
	return out, nil
}

// keepSignatures copies binary key data, dropping the signatures on user
// IDs (and user attributes) whose issuer is none of keep; every other
// packet stays as gpg wrote it. A signature on a user ID that names no
// issuer is dropped.
func keepSignatures(data []byte, keep []pgp.Fingerprint) ([]byte, error) {
	out := make([]byte, 0, len(data))
	onUID := false
	for rest := data; len(rest) > 0; {
		p, r, err := nextPacket(rest)
		if err != nil {
			return nil, err
		}
		if p.partial {
			return nil, fmt.Errorf("a packet of indeterminate length")
		}
		raw := rest[:len(rest)-len(r)]
		rest = r
		switch p.tag {
		case tagUserID, tagUserAttribute:
			onUID = true
		case tagPublicKey, tagPublicSub, tagSecretKey, tagSecretSub:
			onUID = false
		case tagSignature:
			if onUID && !issuedByOneOf(p.body, keep) {
				continue
			}
		}
		out = append(out, raw...)
	}
	return out, nil
}

func issuedByOneOf(sig []byte, keep []pgp.Fingerprint) bool {
	id, fpr, ok := sigIssuer(sig)
	if !ok {
		return false
	}
	for _, k := range keep {
		if fpr != nil && string(fpr) == string(k[:]) || fpr == nil && id == k.KeyID() {
			return true
		}
	}
	return false
}

// sigIssuer reads the issuer of a v3 or v4 signature packet body (RFC 4880
// §5.2.2, §5.2.3): its issuer fingerprint subpacket (type 33) where it has
// one, else its issuer key ID (type 16).
func sigIssuer(b []byte) (keyID uint64, fpr []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch b[0] {
	case 3:
		if len(b) < 15 {
			return 0, nil, false
		}
		return binary.BigEndian.Uint64(b[7:15]), nil, true
	case 4:
	default:
		return 0, nil, false
	}
	if len(b) < 6 {
		return 0, nil, false
	}
	n := int(b[4])<<8 | int(b[5])
	if len(b) < 6+n+2 {
		return 0, nil, false
	}
	hashed := b[6 : 6+n]
	m := int(b[6+n])<<8 | int(b[7+n])
	if len(b) < 8+n+m {
		return 0, nil, false
	}
	unhashed := b[8+n : 8+n+m]
	for _, area := range [][]byte{hashed, unhashed} {
		for len(area) > 0 {
			l, hdr := 0, 0
			switch o := int(area[0]); {
			case o < 192:
				l, hdr = o, 1
			case o < 255:
				if len(area) < 2 {
					return keyID, fpr, ok
				}
				l, hdr = (o-192)<<8+int(area[1])+192, 2
			default:
				if len(area) < 5 {
					return keyID, fpr, ok
				}
				l, hdr = int(binary.BigEndian.Uint32(area[1:5])), 5
			}
			if l < 1 || l > len(area)-hdr {
				return keyID, fpr, ok
			}
			body := area[hdr+1 : hdr+l]
			switch area[hdr] & 0x7f {
			case 16: // issuer key ID
				if len(body) == 8 && fpr == nil {
					keyID, ok = binary.BigEndian.Uint64(body), true
				}
			case 33: // issuer fingerprint
				if len(body) == 21 && body[0] == 4 {
					fpr = body[1:]
					keyID, ok = binary.BigEndian.Uint64(fpr[12:]), true
				}
			}
			area = area[hdr+l:]
		}
	}
	return keyID, fpr, ok
}

// sigRecord reads a "sig" or "rev" record of a listing with signatures
// (--check-sigs, --with-sig-check): field 2 is the check ("!" good), 5 the
// issuer's key ID, 6 the creation time, 11 the class ("10x": generic
// certification, exportable; "l": local), 13 the issuer's fingerprint
// where gpg knows it.
func sigRecord(field func(int) string) listedSig {
	s := listedSig{good: field(2) == "!", issuer: parseKeyID(field(5)), created: parseTime(field(6)), class: field(11)}
	if f, err := pgp.ParseFingerprint(field(13)); err == nil {
		s.issuerFpr = f
	}
	s.class, s.reason, s.comment = revocationFields(s.class, field(21))
	return s
}

// certifications are the exportable third-party certifications of the
// user IDs uids, from a listing with signatures: the newest per user ID
// and issuer, unless the issuer revoked it later (a "rev" record of class
// 30). gpg checked them against the issuers' keys where it has them.
func (k *listedKey) certifications(uids []string) []pgp.Certification {
	valid := map[string]bool{}
	for _, u := range uids {
		valid[u] = true
	}
	var out []pgp.Certification
	for _, u := range k.uids {
		if !valid[u.uid] {
			continue
		}
		best := map[uint64]listedSig{}
		var order []uint64
		for _, s := range u.certs {
			if s.issuer == k.pub.keyID || len(s.class) < 3 || s.class[2] != 'x' {
				continue // self-signatures, local certifications
			}
			switch s.class[:2] {
			case "10", "11", "12", "13":
			default:
				continue
			}
			old, seen := best[s.issuer]
			if !seen {
				order = append(order, s.issuer)
			}
			if !seen || s.good && !old.good || s.good == old.good && s.created.After(old.created) {
				best[s.issuer] = s
			}
		}
		for _, id := range order {
			s := best[id]
			revoked := false
			for _, r := range u.revs {
				if r.good && r.issuer == id && strings.HasPrefix(r.class, "30") && !r.created.Before(s.created) {
					revoked = true
				}
			}
			if revoked {
				continue
			}
			out = append(out, pgp.Certification{UserID: u.uid, Issuer: s.issuerFpr, IssuerKeyID: s.issuer, Created: s.created, Verified: s.good})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].UserID != out[j].UserID {
			return out[i].UserID < out[j].UserID
		}
		if out[i].Issuer != out[j].Issuer {
			return out[i].Issuer.String() < out[j].Issuer.String()
		}
		return out[i].IssuerKeyID < out[j].IssuerKeyID
	})
	return out
}
