package element

import (
	"errors"
	"testing"
)

func TestConstants(t *testing.T) {
	for got, want := range map[string]string{
		NS:                      "urn:xmpp:openpgp:0",
		NSIM:                    "urn:xmpp:openpgp:im:0",
		NodePublicKeys:          "urn:xmpp:openpgp:0:public-keys",
		NodeSecretKey:           "urn:xmpp:openpgp:0:secret-key",
		FeaturePublicKeysNotify: "urn:xmpp:openpgp:0:public-keys+notify",
		NSEME:                   "urn:xmpp:eme:0",
		NSHints:                 "urn:xmpp:hints",
		NSClient:                "jabber:client",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestDataNode(t *testing.T) {
	const fpr = "73E8035BCB948EB3533F153767EE3E8BF07535FA"
	want := "urn:xmpp:openpgp:0:public-keys:" + fpr
	for _, in := range []string{fpr, "73e8035bcb948eb3533f153767ee3e8bf07535fa", "73E8 035B CB94 8EB3 533F  1537 67EE 3E8B F075 35FA"} {
		if got := DataNode(in); got != want {
			t.Errorf("DataNode(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		node string
		fpr  string
		ok   bool
	}{
		{want, fpr, true},
		{"urn:xmpp:openpgp:0:public-keys:73e8035bcb948eb3533f153767ee3e8bf07535fa", fpr, true},
		{NodePublicKeys, "", false},
		{NodePublicKeys + ":", "", false},
		{FeaturePublicKeysNotify, "", false},
		{NodeSecretKey, "", false},
		{want + "00", "", false},
		{want[:len(want)-1], "", false},
		{want[:len(want)-1] + "G", "", false},
		{"urn:xmpp:openpgp:0:public-keys:73E8 035B CB94 8EB3 533F 1537 67EE 3E8B F075 35FA", "", false},
		{"urn:xmpp:openpgp:0:public-keys+notify:" + fpr, "", false},
	} {
		fpr, ok := ParseDataNode(tc.node)
		if fpr != tc.fpr || ok != tc.ok {
			t.Errorf("ParseDataNode(%q) = %q, %v; want %q, %v", tc.node, fpr, ok, tc.fpr, tc.ok)
		}
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	const want = "8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0"
	for _, in := range []string{
		want,
		"8891b123d1effd2d09ca1ea0a41d9e4b9dc120d0",
		"8891 B123 D1EF FD2D 09CA  1EA0 A41D 9E4B 9DC1 20D0", // gpg --fingerprint
		"  8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0\n",
	} {
		got, err := NormalizeFingerprint(in)
		if err != nil || got != want {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{
		"", want[:39], want + "0", want[:39] + "G", "0x" + want[:38], want[:32], // v3/short
		want + want[:24], // v5/v6 fingerprints are 64 hex digits
	} {
		if got, err := NormalizeFingerprint(in); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v; want ErrBadFingerprint", in, got, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindSigncrypt: "signcrypt", KindSign: "sign", KindCrypt: "crypt", 0: "Kind(0)", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *ParseError
		want string
	}{
		{perr("signcrypt", "time", ErrMissing, "no <time/> element"), "element: <signcrypt/> time: missing required element: no <time/> element"},
		{perr("", "", ErrSyntax, "EOF"), "element: not well-formed XML: EOF"},
		{perr("", "time", ErrBadTime, ""), "element: time: bad time stamp"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
