package pep

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// canonical renders XML so that documents that mean the same compare
// equal: namespaces resolved, declarations and attribute order ignored,
// comments, processing instructions and space around the root dropped.
func canonical(data []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			var attrs []string
			for _, a := range t.Attr {
				if isNSDecl(a) {
					continue
				}
				attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, a.Value))
			}
			slices.Sort(attrs)
			fmt.Fprintf(&b, "<{%s}%s %s>", t.Name.Space, t.Name.Local, strings.Join(attrs, " "))
		case xml.EndElement:
			depth--
			fmt.Fprintf(&b, "</{%s}%s>", t.Name.Space, t.Name.Local)
		case xml.CharData:
			if depth == 0 {
				continue // whitespace around the root
			}
			fmt.Fprintf(&b, "%q", string(t))
		}
	}
}

func sameXML(t *testing.T, got, want []byte) bool {
	t.Helper()
	g, err := canonical(got)
	if err != nil {
		t.Errorf("not XML: %v: %s", err, got)
		return false
	}
	w, err := canonical(want)
	if err != nil {
		t.Fatalf("want is not XML: %v", err)
	}
	return g == w
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func ids(items []Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
