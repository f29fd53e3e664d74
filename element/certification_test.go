package element

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

const (
	certTarget = "3EC1012940BF2505DE661858CE26F77F77D5678B"
	certBy     = "73E8035BCB948EB3533F153767EE3E8BF07535FA"
)

var certKey = []byte{0x98, 0x33, 4, 1, 2, 3}

func TestCertificationRoundTrip(t *testing.T) {
	c := Certification{Fingerprint: strings.ToLower(certTarget), By: "73E8 035B CB94 8EB3 533F  1537 67EE 3E8B F075 35FA", Data: certKey}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `<certification xmlns="https://codeberg.org/ox/ox/certification#0" fingerprint="` + certTarget + `" by="` + certBy + `"><data>` + base64.StdEncoding.EncodeToString(certKey) + `</data></certification>`
	if string(out) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", out, want)
	}
	back, err := ParseCertification(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Fingerprint != certTarget || back.By != certBy || !bytes.Equal(back.Data, certKey) || back.Armored {
		t.Errorf("parsed %+v", back)
	}
}

func TestParseCertificationTolerant(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(certKey)
	for name, in := range map[string]string{
		"lower case":  `<certification xmlns='https://codeberg.org/ox/ox/certification#0' fingerprint='` + strings.ToLower(certTarget) + `' by='` + strings.ToLower(certBy) + `'><data>` + b64 + `</data></certification>`,
		"prefixed":    `<c:certification xmlns:c='https://codeberg.org/ox/ox/certification#0' fingerprint='` + certTarget + `' by='` + certBy + `'><data>` + b64 + `</data></c:certification>`,
		"spaced data": `<certification xmlns='https://codeberg.org/ox/ox/certification#0' fingerprint='` + certTarget + `' by='` + certBy + "'>\n <data>\n  " + b64[:4] + "\n  " + strings.TrimRight(b64[4:], "=") + "\n </data><extra/></certification>",
		"armored":     `<certification xmlns='https://codeberg.org/ox/ox/certification#0' fingerprint='` + certTarget + `' by='` + certBy + `'><data>` + armor("PGP PUBLIC KEY BLOCK", certKey) + `</data></certification>`,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := ParseCertification([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if c.Fingerprint != certTarget || c.By != certBy || !bytes.Equal(c.Data, certKey) || c.Armored != (name == "armored") {
				t.Errorf("parsed %+v", c)
			}
		})
	}
}

func TestParseCertificationErrors(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(certKey)
	head := `<certification xmlns='https://codeberg.org/ox/ox/certification#0' `
	for _, tc := range []struct {
		name, in string
		sentinel error
		field    string
	}{
		{"wrong namespace", `<certification xmlns='urn:xmpp:openpgp:0' fingerprint='` + certTarget + `' by='` + certBy + `'><data>` + b64 + `</data></certification>`, ErrUnexpectedElement, "-"},
		{"no fingerprint", head + `by='` + certBy + `'><data>` + b64 + `</data></certification>`, ErrMissing, "fingerprint"},
		{"no by", head + `fingerprint='` + certTarget + `'><data>` + b64 + `</data></certification>`, ErrMissing, "by"},
		{"bad by", head + `fingerprint='` + certTarget + `' by='1234'><data>` + b64 + `</data></certification>`, ErrBadFingerprint, "by"},
		{"no data", head + `fingerprint='` + certTarget + `' by='` + certBy + `'/>`, ErrMissing, "data"},
		{"empty data", head + `fingerprint='` + certTarget + `' by='` + certBy + `'><data/></certification>`, ErrMissing, "data"},
		{"two data", head + `fingerprint='` + certTarget + `' by='` + certBy + `'><data>` + b64 + `</data><data>` + b64 + `</data></certification>`, ErrDuplicate, "data"},
		{"not OpenPGP", head + `fingerprint='` + certTarget + `' by='` + certBy + `'><data>AAAA</data></certification>`, ErrBadData, "data"},
		{"trailing", head + `fingerprint='` + certTarget + `' by='` + certBy + `'><data>` + b64 + `</data></certification><x/>`, ErrTrailingData, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCertification([]byte(tc.in))
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
	for _, c := range []Certification{
		{Fingerprint: "xyz", By: certBy, Data: certKey},
		{Fingerprint: certTarget, By: "", Data: certKey},
		{Fingerprint: certTarget, By: certBy},
	} {
		if _, err := c.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) wrote it", c)
		}
	}
}

// The element travels in a <signcrypt/>'s payload beside a <body/>.
func TestFindCertification(t *testing.T) {
	el, err := Certification{Fingerprint: certTarget, By: certBy, Data: certKey}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	payload := append(BodyPayload("alice certified your key"), el...)
	c, err := NewContent(KindSigncrypt, []jid.JID{jid.MustParse("bob@example.org")}, time.Now(), payload)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseContent(wire)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := back.Body(); body != "alice certified your key" {
		t.Errorf("body %q", body)
	}
	got, ok, err := FindCertification(back.Payload)
	if err != nil || !ok || got.Fingerprint != certTarget || got.By != certBy || !bytes.Equal(got.Data, certKey) {
		t.Fatalf("found %+v %v %v", got, ok, err)
	}
	if _, ok, err := FindCertification(BodyPayload("hello")); ok || err != nil {
		t.Errorf("a plain message holds a certification: %v %v", ok, err)
	}
	if _, ok, err := FindCertification(append(payload, el...)); !ok || !errors.Is(err, ErrDuplicate) {
		t.Errorf("two certifications: %v %v, want ErrDuplicate", ok, err)
	}
	bad := []byte(`<certification xmlns="` + NSCertification + `" fingerprint="` + certTarget + `"><data>AAAA</data></certification>`)
	if _, ok, err := FindCertification(bad); !ok || err == nil {
		t.Errorf("an unreadable certification: %v %v", ok, err)
	}
	// A prefix declared on the payload's parent is carried along.
	prefixed := []byte(`<c:certification xmlns:c="` + NSCertification + `" fingerprint="` + certTarget + `" by="` + certBy + `"><c:data>` + base64.StdEncoding.EncodeToString(certKey) + `</c:data></c:certification>`)
	if got, ok, err := FindCertification(prefixed); err != nil || !ok || !bytes.Equal(got.Data, certKey) {
		t.Errorf("prefixed: %+v %v %v", got, ok, err)
	}
}

func FuzzParseCertification(f *testing.F) {
	el, _ := Certification{Fingerprint: certTarget, By: certBy, Data: certKey}.Marshal()
	f.Add(el)
	f.Add([]byte(`<c:certification xmlns:c='https://codeberg.org/ox/ox/certification#0' fingerprint='` + strings.ToLower(certTarget) + `' by='` + certBy + `'><data>` + armor("PGP PUBLIC KEY BLOCK", certKey) + `</data></c:certification>`))
	f.Add(append(BodyPayload("x"), el...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, ok, err := FindCertification(data); err == nil && ok {
			if _, err := c.Marshal(); err != nil {
				t.Fatalf("found in a payload but cannot be written: %v", err)
			}
		}
		c, err := ParseCertification(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		out, err := c.Marshal()
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("parsed but cannot be written: %v", err)
		}
		back, err := ParseCertification(out)
		if err != nil || back.Fingerprint != c.Fingerprint || back.By != c.By || !bytes.Equal(back.Data, c.Data) || back.Armored {
			t.Fatalf("round trip: %+v %v, want %+v", back, err, c)
		}
		out2, err := back.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable: %v", err)
		}
	})
}
