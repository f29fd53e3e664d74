package element

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readTestdata reads testdata/name and fails the test if it is missing.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("test vector missing: %v", err)
	}
	return b
}

// testdataGlob lists testdata files matching pattern, failing when fewer
// than min match (so that a vanished corpus is noticed).
func testdataGlob(tb testing.TB, pattern string, min int) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		tb.Fatal(err)
	}
	if len(m) < min {
		tb.Fatalf("testdata/%s: %d files, want at least %d", pattern, len(m), min)
	}
	sort.Strings(m)
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// pepItem is one payload found in a PEP dump.
type pepItem struct {
	Node, ItemID string
	Name         xml.Name
	Raw          []byte // the payload element as it is in the dump
}

// pepItems finds the payloads of every <item/> in a PEP dump. The dumps
// hold several <iq/> one after another, not one document, hence the
// decoder loop.
func pepItems(tb testing.TB, data []byte) []pepItem {
	tb.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var (
		stack      []string
		node, item string
		items      []pepItem
	)
	for {
		off0 := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("PEP dump: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 0 && stack[len(stack)-1] == "item" && t.Name.Space != "http://jabber.org/protocol/disco#items" {
				if err := d.Skip(); err != nil {
					tb.Fatal(err)
				}
				items = append(items, pepItem{Node: node, ItemID: item, Name: t.Name, Raw: append([]byte(nil), data[off0:d.InputOffset()]...)})
				continue
			}
			switch t.Name.Local {
			case "items":
				node = attr(t, "node")
			case "item":
				item = attr(t, "id")
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	return items
}

func attr(s xml.StartElement, local string) string {
	for _, a := range s.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// wantErr asserts that err wraps sentinel and is a *ParseError whose Field
// is field (unless field is "-").
func wantErr(tb testing.TB, err, sentinel error, field string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		tb.Fatalf("got error %q, want one wrapping %q", err, sentinel)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		tb.Fatalf("error %q (%T) is not a *ParseError", err, err)
	}
	if field != "-" && pe.Field != field {
		tb.Fatalf("error %q: Field = %q, want %q", err, pe.Field, field)
	}
	if !strings.HasPrefix(err.Error(), "element: ") {
		tb.Fatalf("error %q does not start with \"element: \"", err)
	}
}

// topLevelNames decodes a payload fragment with encoding/xml, on its own,
// and returns the resolved names of its top-level elements: this is how a
// library user would see them.
func topLevelNames(tb testing.TB, payload []byte) []xml.Name {
	tb.Helper()
	d := xml.NewDecoder(bytes.NewReader(append(append([]byte("<w>"), payload...), "</w>"...)))
	var names []xml.Name
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("payload %q is not a well-formed fragment: %v", payload, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				names = append(names, t.Name)
			}
		case xml.EndElement:
			depth--
		}
	}
	return names
}

// armor wraps b in ASCII armor as GnuPG writes it: headers, a blank line,
// 64-column Base64 and the CRC-24 line (RFC 4880 §6).
func armor(typ string, b []byte, headers ...string) string {
	var s strings.Builder
	s.WriteString("-----BEGIN " + typ + "-----\n")
	for _, h := range headers {
		s.WriteString(h + "\n")
	}
	s.WriteString("\n")
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 64 {
		s.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	s.WriteString(enc + "\n")
	crc := crc24(b)
	s.WriteString("=" + base64.StdEncoding.EncodeToString([]byte{byte(crc >> 16), byte(crc >> 8), byte(crc)}) + "\n")
	s.WriteString("-----END " + typ + "-----\n")
	return s.String()
}

func crc24(b []byte) uint32 {
	crc := uint32(0xB704CE)
	for _, c := range b {
		crc ^= uint32(c) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	return crc & 0xFFFFFF
}
