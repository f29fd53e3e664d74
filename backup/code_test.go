package backup

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

var codeShape = regexp.MustCompile(`^[1-9A-NP-Z]{4}(-[1-9A-NP-Z]{4}){5}$`)

func TestAlphabet(t *testing.T) {
	if len(Alphabet) != 34 || strings.ContainsAny(Alphabet, "0O") {
		t.Fatalf("Alphabet %q: want 34 characters without 0 and O", Alphabet)
	}
	for i := 1; i < len(Alphabet); i++ {
		if Alphabet[i-1] >= Alphabet[i] {
			t.Fatalf("Alphabet %q is not sorted and unique at %d", Alphabet, i)
		}
	}
}

// Many codes: the shape, and every character of Alphabet about equally
// often (a chi-square test with 33 degrees of freedom).
func TestNewCode(t *testing.T) {
	const n = 3000
	counts := map[rune]int{}
	seen := map[Code]bool{}
	for range n {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 29 || !codeShape.MatchString(string(c)) {
			t.Fatalf("code %q is not XXXX-XXXX-XXXX-XXXX-XXXX-XXXX over the alphabet", c)
		}
		if c.String() != string(c) {
			t.Fatalf("String() = %q, want %q", c.String(), c)
		}
		if p, err := ParseCode(string(c)); err != nil || p != c {
			t.Fatalf("ParseCode(%q) = %q, %v", c, p, err)
		}
		if seen[c] {
			t.Fatalf("code %q came twice", c)
		}
		seen[c] = true
		for _, r := range strings.ReplaceAll(string(c), "-", "") {
			counts[r]++
		}
	}
	if len(counts) != len(Alphabet) {
		t.Fatalf("%d distinct characters in %d codes, want %d", len(counts), n, len(Alphabet))
	}
	expected := float64(n*24) / float64(len(Alphabet))
	chi2 := 0.0
	for _, r := range Alphabet {
		d := float64(counts[r]) - expected
		chi2 += d * d / expected
	}
	// For 33 degrees of freedom, P(chi2 > 85) < 1e-6: a failure is a bias,
	// not bad luck. (A modulo over bytes would give the first 18 characters
	// 8/7 of the others' share: chi2 around 300 here.)
	t.Logf("chi-square over %d characters: %.1f (33 degrees of freedom)", n*24, chi2)
	if chi2 > 85 {
		t.Errorf("chi-square %.1f > 85: the characters are not uniform: %v", chi2, counts)
	}
}

// The sampling rejects the bytes 238-255 rather than folding them.
func TestNewCodeRejectionSampling(t *testing.T) {
	defer func(r0 io.Reader) { randReader = r0 }(randReader)

	// Every byte value in turn: 0..237 are kept (b mod 34), 238..255 skipped.
	stream := make([]byte, 0, 512)
	for i := range 512 {
		stream = append(stream, byte(i))
	}
	randReader = bytes.NewReader(stream)
	c, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, b := range stream {
		if b < 238 && len(want) < 24 {
			want = append(want, Alphabet[b%34])
		}
	}
	if c != format(want) {
		t.Errorf("NewCode = %q, want %q", c, format(want))
	}

	// Only rejected bytes at first: it reads on.
	stream = bytes.Repeat([]byte{255, 238, 250}, 100)
	stream = append(stream, bytes.Repeat([]byte{33}, 64)...)
	randReader = bytes.NewReader(stream)
	if c, err := NewCode(); err != nil || c != "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ" {
		t.Errorf("NewCode = %q, %v", c, err)
	}

	randReader = iotest.ErrReader(errors.New("no entropy"))
	if _, err := NewCode(); err == nil || !strings.HasPrefix(err.Error(), "backup: ") {
		t.Errorf("NewCode with a failing random source: %v", err)
	}
}

func TestParseCode(t *testing.T) {
	const want = Code("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")
	for _, in := range []string{
		"TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW",
		"twnk-kd5y-mt3t-e1gs-drdb-kvtw",
		"TwNk-Kd5Y-mT3t-E1gS-dRdB-kVtW",
		"TWNKKD5YMT3TE1GSDRDBKVTW",
		"TWNK KD5Y MT3T E1GS DRDB KVTW",
		"  TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW\n",
		"\tTWNK - KD5Y - MT3T - E1GS - DRDB - KVTW \r\n",
		"TWNKKD5Y-MT3TE1GS-DRDBKVTW",
		"TWNK--KD5Y-MT3T-E1GS-DRDB-KVTW-",
		"TWNK\u00a0KD5Y\u2003MT3T E1GS DRDB KVTW", // no-break and em spaces
	} {
		got, err := ParseCode(in)
		if err != nil || got != want {
			t.Errorf("ParseCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}

	for _, c := range []struct {
		in    string
		char  rune
		pos   int
		group int
		len   int
	}{
		{in: "TWNK-KD5Y-MT3T-E1GS-DRDB-KVT0", char: '0', pos: 29, group: 6},
		{in: "OWNK-KD5Y-MT3T-E1GS-DRDB-KVTW", char: 'O', pos: 1, group: 1},
		{in: "twnkkd5ymt3te1gsdrdbkvto", char: 'o', pos: 24, group: 6},
		{in: " TWNK KD5Y M_3T E1GS DRDB KVTW", char: '_', pos: 13, group: 3},
		{in: "TWNK-KD5Y-MT3T-É1GS-DRDB-KVTW", char: 'É', pos: 16, group: 4},
		{in: "TWNK-KD5Y-MT3T-Ｅ1GS-DRDB-KVTW", char: 'Ｅ', pos: 16, group: 4}, // full width
		{in: "", len: 0},
		{in: "   ", len: 0},
		{in: "TWNK-KD5Y-MT3T-E1GS-DRDB-KVT", len: 23},
		{in: "TWNK-KD5Y-MT3T-E1GS-DRDB-KVTWX", len: 25},
		{in: "TWNK-KD5Y-MT3T-E1GS-DRDB", len: 20},
	} {
		got, err := ParseCode(c.in)
		var ce *CodeError
		if !errors.As(err, &ce) {
			t.Errorf("ParseCode(%q) = %q, %v; want a *CodeError", c.in, got, err)
			continue
		}
		if got != "" {
			t.Errorf("ParseCode(%q) = %q with an error", c.in, got)
		}
		if ce.Char != c.char || ce.Pos != c.pos || ce.Group != c.group || ce.Len != c.len {
			t.Errorf("ParseCode(%q): %+v, want char %q pos %d group %d len %d", c.in, *ce, c.char, c.pos, c.group, c.len)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "backup: invalid backup code: ") {
			t.Errorf("message %q", msg)
		}
		if strings.Contains(msg, "KD5Y") {
			t.Errorf("message %q repeats the code", msg)
		}
		t.Log(msg)
	}
}

func FuzzParseCode(f *testing.F) {
	f.Add("TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW")
	f.Add("twnk kd5y mt3t e1gs drdb kvt0")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			var ce *CodeError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CodeError", err)
			}
			return
		}
		if !codeShape.MatchString(string(c)) {
			t.Fatalf("ParseCode(%q) = %q, not canonical", s, c)
		}
		if again, err := ParseCode(string(c)); err != nil || again != c {
			t.Fatalf("ParseCode(%q) = %q, %v", c, again, err)
		}
	})
}
