package xmlx

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, text, attr string }{
		{`a<b>&c`, `a&lt;b&gt;&amp;c`, `a&lt;b&gt;&amp;c`},
		{"q\"\r\n\t", "q\"&#xD;\n\t", "q&quot;&#xD;&#xA;&#x9;"},
		{"nul\x00 ff\xff", "nul\uFFFD ff\uFFFD", "nul\uFFFD ff\uFFFD"},
		{"ünïcödé", "ünïcödé", "ünïcödé"},
	} {
		if got := string(AppendText(nil, c.in)); got != c.text {
			t.Errorf("AppendText(%q) = %q, want %q", c.in, got, c.text)
		}
		if got := string(AppendAttr(nil, c.in)); got != c.attr {
			t.Errorf("AppendAttr(%q) = %q, want %q", c.in, got, c.attr)
		}
	}
}

// What the writer writes reads back as the same tokens, self-contained.
func TestReadElementRoundTrip(t *testing.T) {
	in := `<iq xmlns="jabber:client" type="result"><pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="n"><item id="1"><x xmlns="urn:x" xmlns:p="urn:p" p:a="&lt;1&gt;" xml:lang="en">t&amp;t</x><empty/></item></items></pubsub></iq> trailing`
	d := xml.NewDecoder(strings.NewReader(in))
	out, err := ReadElement(d, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `<iq xmlns="jabber:client" type="result"><pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="n"><item id="1"><x xmlns="urn:x" xmlns:ns1="urn:p" ns1:a="&lt;1&gt;" xml:lang="en">t&amp;t</x><empty/></item></items></pubsub></iq>`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, err := ReadElement(xml.NewDecoder(strings.NewReader(strings.Repeat("<a>", 10))), 0, 5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("depth: %v", err)
	}
	if _, err := ReadElement(xml.NewDecoder(strings.NewReader("<a>"+strings.Repeat("x", 100)+"</a>")), 50, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size: %v", err)
	}
}

func TestStartsDepths(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(`<message><a><openpgp/></a><openpgp/><b/></message>`))
	var got []string
	s := &Starts{R: d, F: func(depth int, start xml.StartElement) {
		got = append(got, fmt.Sprintf("%s@%d", start.Name.Local, depth))
	}}
	if _, err := ReadElement(s, 1<<20, 16); err != nil {
		t.Fatal(err)
	}
	want := "message@1 a@2 openpgp@3 openpgp@2 b@2"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
}
