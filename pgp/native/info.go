package native

import (
	"sort"
	"strconv"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"codeberg.org/ox/ox/pgp"
)

// keyInfo summarises an entity. Validity that depends on the clock (expiry)
// is recorded as dates, so the summary stays true as time passes; only
// revocations are decided here.
func keyInfo(e *openpgp.Entity, cfg *packet.Config) pgp.KeyInfo {
	fpr, _ := pgp.FingerprintFromBytes(e.PrimaryKey.Fingerprint)
	ki := pgp.KeyInfo{
		Fingerprint: fpr,
		Algorithm:   algoName(e.PrimaryKey),
		Created:     e.PrimaryKey.CreationTime.UTC(),
		Secret:      e.PrivateKey != nil && !e.PrivateKey.Dummy(),
		Protected:   isProtected(e),
	}
	var zero time.Time
	if sig, err := e.PrimarySelfSignature(zero, cfg); err == nil {
		ki.Expires = expiry(e.PrimaryKey.CreationTime, sig.KeyLifetimeSecs)
		ki.Capabilities = flags(sig)
	}
	for _, r := range e.Revocations {
		if e.PrimaryKey.VerifyRevocationSignature(r.Packet) == nil {
			noteRevocation(&ki, r.Packet)
		}
	}
	for name, id := range e.Identities {
		if _, err := id.Verify(zero, cfg); err == nil {
			ki.UserIDs = append(ki.UserIDs, name)
		}
	}
	sort.Strings(ki.UserIDs)
	for i := range e.Subkeys {
		s := &e.Subkeys[i]
		sig, err := s.LatestValidBindingSignature(zero, cfg)
		if err != nil {
			continue // a subkey without a valid binding is not part of the key
		}
		sfpr, _ := pgp.FingerprintFromBytes(s.PublicKey.Fingerprint)
		ki.Subkeys = append(ki.Subkeys, pgp.Subkey{
			Fingerprint:  sfpr,
			Algorithm:    algoName(s.PublicKey),
			Created:      s.PublicKey.CreationTime.UTC(),
			Expires:      minExpiry(expiry(s.PublicKey.CreationTime, sig.KeyLifetimeSecs), ki.Expires),
			Revoked:      s.Revoked(sig, zero),
			Capabilities: flags(sig),
		})
	}
	return ki
}

func expiry(created time.Time, lifetime *uint32) time.Time {
	if lifetime == nil || *lifetime == 0 {
		return time.Time{}
	}
	return created.Add(time.Duration(*lifetime) * time.Second).UTC()
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

func flags(sig *packet.Signature) pgp.Capabilities {
	if !sig.FlagsValid {
		return pgp.Capabilities{}
	}
	return pgp.Capabilities{
		Certify:      sig.FlagCertify,
		Sign:         sig.FlagSign,
		Encrypt:      sig.FlagEncryptCommunications || sig.FlagEncryptStorage,
		Authenticate: sig.FlagAuthenticate,
	}
}

func algoName(pk *packet.PublicKey) string {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoEdDSA:
		return "ed25519"
	case packet.PubKeyAlgoECDH:
		if c, err := pk.Curve(); err == nil && c == packet.Curve25519 {
			return "cv25519"
		}
		return "ecdh"
	case packet.PubKeyAlgoEd25519:
		return "ed25519(v6)"
	case packet.PubKeyAlgoX25519:
		return "x25519"
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		if n, err := pk.BitLength(); err == nil {
			return "rsa" + strconv.Itoa(int(n))
		}
		return "rsa"
	case packet.PubKeyAlgoECDSA:
		return "ecdsa"
	}
	return "algo" + strconv.Itoa(int(pk.PubKeyAlgo))
}
