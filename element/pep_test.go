package element

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// Every public key and metadata item in the PEP dumps parses, and the
// metadata of each account names the key of its data node.
func TestVectorsPEP(t *testing.T) {
	want := map[string]struct {
		fpr       string
		date      time.Time
		firstByte byte // 0xc6: new-format packet (gopenpgp), 0x98: old format (gpg)
	}{
		"pep.alice-gosendxmpp.owner.xml":       {"73E8035BCB948EB3533F153767EE3E8BF07535FA", utc(2026, 11, 26, 11, 29, 29), 0xc6},
		"pep.alice-gosendxmpp.as-bob.xml":      {"73E8035BCB948EB3533F153767EE3E8BF07535FA", utc(2026, 11, 26, 11, 29, 29), 0xc6},
		"pep.bob-gosendxmpp.owner.xml":         {"3EC1012940BF2505DE661858CE26F77F77D5678B", utc(2026, 11, 26, 11, 29, 29), 0xc6},
		"pep.carol-profanity.owner.xml":        {"8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0", utc(2026, 11, 26, 11, 29, 38), 0x98},
		"pep.carol-profanity.as-alice.xml":     {"8891B123D1EFFD2D09CA1EA0A41D9E4B9DC120D0", utc(2026, 11, 26, 11, 29, 38), 0x98},
		"pep.bob-after-delete-nodes.owner.xml": {},
	}
	files := testdataGlob(t, "pep.*.xml", len(want))
	if len(files) != len(want) {
		t.Fatalf("%d PEP dumps in testdata, %d in the table", len(files), len(want))
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			w := want[file]
			var keys, lists int
			for _, it := range pepItems(t, readTestdata(t, file)) {
				switch it.Name.Local {
				case "pubkey":
					keys++
					p, err := ParsePubKey(it.Raw)
					if err != nil {
						t.Fatalf("item %s of %s: %v", it.ItemID, it.Node, err)
					}
					if p.Data[0] != w.firstByte || len(p.Data) < 300 || p.Armored || !p.Date.IsZero() {
						t.Errorf("pubkey: %d bytes, first %x, armored %v, date %v", len(p.Data), p.Data[0], p.Armored, p.Date)
					}
					if fpr, ok := ParseDataNode(it.Node); !ok || fpr != w.fpr {
						t.Errorf("data node %q: %q, %v; want %s", it.Node, fpr, ok, w.fpr)
					}
					// Item id: the publish time (XEP-0373 §4.1).
					if id, err := ParseTime(it.ItemID); err != nil || !id.Equal(w.date) {
						t.Errorf("item id %q: %v, %v", it.ItemID, id, err)
					}
					// Re-marshalled: the same bytes, in our quoting.
					if got := p.Marshal(); !bytes.Equal(got, bytes.ReplaceAll(it.Raw, []byte("'"), []byte(`"`))) {
						t.Errorf("Marshal:\n got %s\nwant %s", got, it.Raw)
					}
				case "public-keys-list":
					lists++
					l, err := ParsePublicKeysList(it.Raw)
					if err != nil {
						t.Fatal(err)
					}
					if it.Node != NodePublicKeys || len(l.Keys) != 1 || len(l.Skipped) != 0 {
						t.Fatalf("node %q: %+v", it.Node, l)
					}
					k := l.Keys[0]
					if k.Fingerprint != w.fpr || !k.Date.Equal(w.date) || k.DateRaw != FormatTime(w.date) {
						t.Errorf("metadata %+v, want %s at %v", k, w.fpr, w.date)
					}
					// Written back from Raw (Prosody's attribute order and
					// quotes) or from the fields (ours): both mean the same.
					if got, wantRaw := string(l.Marshal()), `<public-keys-list xmlns="urn:xmpp:openpgp:0">`+string(k.Raw)+`</public-keys-list>`; got != wantRaw {
						t.Errorf("Marshal with Raw:\n got %s\nwant %s", got, wantRaw)
					}
					l.Keys[0].Raw = nil
					if got, wantOurs := string(l.Marshal()), `<public-keys-list xmlns="urn:xmpp:openpgp:0"><pubkey-metadata v4-fingerprint="`+w.fpr+`" date="`+FormatTime(w.date)+`"/></public-keys-list>`; got != wantOurs {
						t.Errorf("Marshal:\n got %s\nwant %s", got, wantOurs)
					}
				default:
					t.Errorf("unexpected item payload %v", it.Name)
				}
			}
			if w.fpr == "" {
				if keys+lists != 0 {
					t.Errorf("%d keys and %d lists after deleting the nodes", keys, lists)
				}
				return
			}
			if keys != 1 || lists != 1 {
				t.Errorf("%d pubkey items, %d metadata items; want 1 and 1", keys, lists)
			}
		})
	}
}

// The lab's secret key backup item (synthetic, XEP-0373 §5.4).
func TestVectorsSecretKey(t *testing.T) {
	var found int
	for _, it := range pepItems(t, readTestdata(t, "s11-server-capabilities.secret-key-publish-as-owner.xml")) {
		if it.Name.Local != "secretkey" {
			continue
		}
		found++
		if it.Node != NodeSecretKey || it.ItemID != "current" {
			t.Errorf("node %q item %q", it.Node, it.ItemID)
		}
		s, err := ParseSecretKey(it.Raw)
		if err != nil {
			t.Fatal(err)
		}
		// gpg --symmetric: an SKESK packet (old format, tag 3) first.
		if s.Data[0] != 0x8c || len(s.Data) < 200 || s.Armored {
			t.Errorf("secret key: %d bytes starting %x", len(s.Data), s.Data[0])
		}
		if got := s.Marshal(); !bytes.Equal(got, bytes.ReplaceAll(it.Raw, []byte("'"), []byte(`"`))) {
			t.Errorf("Marshal:\n got %s\nwant %s", got, it.Raw)
		}
	}
	if found != 1 {
		t.Fatalf("%d secret key items, want 1", found)
	}
}

func TestPubKey(t *testing.T) {
	asc := string(readTestdata(t, "keys.carol.public.asc"))
	var published []byte
	for _, it := range pepItems(t, readTestdata(t, "pep.carol-profanity.owner.xml")) {
		if it.Name.Local == "pubkey" {
			p, err := ParsePubKey(it.Raw)
			if err != nil {
				t.Fatal(err)
			}
			published = p.Data
		}
	}
	b64 := base64.StdEncoding.EncodeToString(published)
	for _, tc := range []struct {
		name, in string
		armored  bool
		date     time.Time
	}{
		{"marshal output", string(PubKey{Data: published}.Marshal()), false, time.Time{}},
		// gpg --armor --export of the key profanity published: GnuPG's
		// armor with a blank line and the CRC line.
		{"armored by gpg", "<pubkey xmlns='urn:xmpp:openpgp:0'><data>" + asc + "</data></pubkey>", true, time.Time{}},
		{"armored, indented", "<pubkey xmlns='urn:xmpp:openpgp:0'>\n  <data>\n    " + strings.ReplaceAll(asc, "\n", "\n    ") + "</data>\n</pubkey>", true, time.Time{}},
		{"spec layout", "<pubkey xmlns='urn:xmpp:openpgp:0'>\n  <data>\n    " + b64[:76] + "\n    " + b64[76:] + "\n  </data>\n</pubkey>", false, time.Time{}},
		{"legacy date attribute", "<pubkey xmlns='urn:xmpp:openpgp:0' date='2018-03-01T15:26:12Z'><data>" + b64 + "</data></pubkey>", false, utc(2018, 3, 1, 15, 26, 12)},
		{"bad legacy date ignored", "<pubkey xmlns='urn:xmpp:openpgp:0' date='March'><data>" + b64 + "</data></pubkey>", false, time.Time{}},
		{"data in no namespace", "<pubkey xmlns='urn:xmpp:openpgp:0'><data xmlns=''>" + b64 + "</data></pubkey>", false, time.Time{}},
		{"unknown elements", "<pubkey xmlns='urn:xmpp:openpgp:0'><x/><data x='y'>" + b64 + "</data><data>AAAA</data></pubkey>", false, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePubKey([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Data, published) || p.Armored != tc.armored || !p.Date.Equal(tc.date) {
				t.Errorf("got %d bytes (equal %v), armored %v, date %v", len(p.Data), bytes.Equal(p.Data, published), p.Armored, p.Date)
			}
		})
	}
	if got := string(PubKey{Data: []byte{0x98, 1}, Date: time.Now()}.Marshal()); got != `<pubkey xmlns="urn:xmpp:openpgp:0"><data>mAE=</data></pubkey>` {
		t.Errorf("Marshal = %s (the date attribute is deprecated)", got)
	}
}

func TestParsePubKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sentinel error
		field    string
	}{
		{"not XML", "<pubkey", ErrSyntax, ""},
		{"wrong element", "<secretkey xmlns='urn:xmpp:openpgp:0'>mAE=</secretkey>", ErrUnexpectedElement, ""},
		{"no namespace", "<pubkey><data>mAE=</data></pubkey>", ErrUnexpectedElement, ""},
		{"no data", "<pubkey xmlns='urn:xmpp:openpgp:0'/>", ErrMissing, "data"},
		{"data not a child", "<pubkey xmlns='urn:xmpp:openpgp:0'>mAE=</pubkey>", ErrMissing, "data"},
		{"empty data", "<pubkey xmlns='urn:xmpp:openpgp:0'><data/></pubkey>", ErrMissing, "data"},
		{"bad base64", "<pubkey xmlns='urn:xmpp:openpgp:0'><data>m!AE</data></pubkey>", ErrBadData, "data"},
		{"not a packet", "<pubkey xmlns='urn:xmpp:openpgp:0'><data>AAAA</data></pubkey>", ErrBadData, "data"},
		{"armored message", "<pubkey xmlns='urn:xmpp:openpgp:0'><data>" + armor("PGP MESSAGE", []byte{0x98, 1}) + "</data></pubkey>", ErrBadData, "data"},
		{"too deep", "<pubkey xmlns='urn:xmpp:openpgp:0'>" + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</pubkey>", ErrTooDeep, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePubKey([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", p)
			}
			wantErr(t, err, tc.sentinel, tc.field)
		})
	}
}

const (
	fprA = "1357B01865B2503C18453D208CAC2A9678548E35"
	fprB = "67819B343B2AB70DED9320872C6464AF2A8E4C02"
)

func TestPublicKeysList(t *testing.T) {
	t.Run("spec example", func(t *testing.T) {
		in := `<public-keys-list xmlns='urn:xmpp:openpgp:0'>
          <pubkey-metadata
            v4-fingerprint='1357B01865B2503C18453D208CAC2A9678548E35'
            date='2018-03-01T15:26:12Z'
            />
          <pubkey-metadata
            v4-fingerprint='67819B343B2AB70DED9320872C6464AF2A8E4C02'
            date='1953-05-16T12:00:00Z'
            />
        </public-keys-list>`
		l, err := ParsePublicKeysList([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Keys) != 2 || l.Keys[0].Fingerprint != fprA || !l.Keys[0].Date.Equal(utc(2018, 3, 1, 15, 26, 12)) ||
			l.Keys[1].Fingerprint != fprB || !l.Keys[1].Date.Equal(utc(1953, 5, 16, 12, 0, 0)) {
			t.Fatalf("%+v", l)
		}
	})
	t.Run("empty", func(t *testing.T) {
		l, err := ParsePublicKeysList([]byte(`<public-keys-list xmlns='urn:xmpp:openpgp:0'/>`))
		if err != nil || len(l.Keys) != 0 {
			t.Fatalf("%+v, %v", l, err)
		}
		if got := string(l.Marshal()); got != `<public-keys-list xmlns="urn:xmpp:openpgp:0"></public-keys-list>` {
			t.Errorf("Marshal = %s", got)
		}
	})
	t.Run("marshal strict", func(t *testing.T) {
		l := PublicKeysList{Keys: []PubKeyMetadata{
			{Fingerprint: strings.ToLower(fprA), Date: time.Date(2020, 1, 21, 11, 46, 21, 5, time.FixedZone("", 3600))},
			{Fingerprint: "not a fingerprint", Date: time.Now()},
			{Fingerprint: fprB, Date: utc(2019, 1, 1, 0, 0, 0)},
			{Fingerprint: fprA, Date: utc(2021, 1, 1, 0, 0, 0)}, // newer duplicate: wins, in the first place
			{Fingerprint: fprB, Date: utc(2018, 1, 1, 0, 0, 0)}, // older duplicate: dropped
		}}
		want := `<public-keys-list xmlns="urn:xmpp:openpgp:0">` +
			`<pubkey-metadata v4-fingerprint="` + fprA + `" date="2021-01-01T00:00:00Z"/>` +
			`<pubkey-metadata v4-fingerprint="` + fprB + `" date="2019-01-01T00:00:00Z"/>` +
			`</public-keys-list>`
		if got := string(l.Marshal()); got != want {
			t.Errorf("Marshal:\n got %s\nwant %s", got, want)
		}
		err := l.Validate()
		if err == nil {
			t.Fatal("Validate: no error")
		}
		wantErr(t, err, ErrDuplicate, "pubkey-metadata")
		if !strings.Contains(err.Error(), "bad OpenPGP v4 fingerprint") {
			t.Errorf("Validate: %v", err)
		}
		if err := (PublicKeysList{Keys: []PubKeyMetadata{{Fingerprint: fprA}}}).Validate(); err == nil {
			t.Error("Validate: no error for a missing date")
		}
		if err := (PublicKeysList{Keys: []PubKeyMetadata{{Fingerprint: fprA, Date: time.Now()}, {Fingerprint: fprB, Date: time.Now()}}}).Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

func TestParsePublicKeysListErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sentinel error
	}{
		{"not XML", "<public-keys-list xmlns='urn:xmpp:openpgp:0'>", ErrSyntax},
		{"wrong element", "<pubkey xmlns='urn:xmpp:openpgp:0'/>", ErrUnexpectedElement},
		{"no namespace", "<public-keys-list/>", ErrUnexpectedElement},
		{"too large", "<public-keys-list xmlns='urn:xmpp:openpgp:0'>" + strings.Repeat(" ", MaxSize) + "</public-keys-list>", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParsePublicKeysList([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", l)
			}
			wantErr(t, err, tc.sentinel, "-")
		})
	}
}

func TestSecretKey(t *testing.T) {
	data := []byte{0x8c, 0x0d, 0x04, 0x09, 0x03, 0x08}
	b64 := base64.StdEncoding.EncodeToString(data)
	if got := string(SecretKey{Data: data}.Marshal()); got != `<secretkey xmlns="urn:xmpp:openpgp:0">`+b64+`</secretkey>` {
		t.Errorf("Marshal = %s", got)
	}
	for _, tc := range []struct {
		name, in string
		armored  bool
	}{
		{"marshal output", string(SecretKey{Data: data}.Marshal()), false},
		{"wrapped", "<secretkey xmlns='urn:xmpp:openpgp:0'>\n  " + b64[:4] + "\n  " + b64[4:] + "\n</secretkey>", false},
		{"armored", "<secretkey xmlns='urn:xmpp:openpgp:0'>" + armor("PGP MESSAGE", data) + "</secretkey>", true},
	} {
		s, err := ParseSecretKey([]byte(tc.in))
		if err != nil || !bytes.Equal(s.Data, data) || s.Armored != tc.armored {
			t.Errorf("%s: %+v, %v", tc.name, s, err)
		}
	}
	for _, tc := range []struct {
		name, in string
		sentinel error
	}{
		{"wrong element", "<pubkey xmlns='urn:xmpp:openpgp:0'/>", ErrUnexpectedElement},
		{"empty", "<secretkey xmlns='urn:xmpp:openpgp:0'/>", ErrMissing},
		{"armored private key block", "<secretkey xmlns='urn:xmpp:openpgp:0'>" + armor("PGP PRIVATE KEY BLOCK", data) + "</secretkey>", ErrBadData},
		{"not a packet", "<secretkey xmlns='urn:xmpp:openpgp:0'>AAAA</secretkey>", ErrBadData},
		{"trailing", "<secretkey xmlns='urn:xmpp:openpgp:0'>" + b64 + "</secretkey><x/>", ErrTrailingData},
	} {
		s, err := ParseSecretKey([]byte(tc.in))
		if err == nil {
			t.Errorf("%s: parsed %+v, want an error", tc.name, s)
			continue
		}
		wantErr(t, err, tc.sentinel, "-")
	}
}
