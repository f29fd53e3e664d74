package files

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":              "photo.jpg",
		"../../etc/passwd":       "passwd",
		"..":                     "file",
		"...":                    "file",
		".bashrc":                "bashrc",
		`C:\Users\x\evil.exe`:    "evil.exe",
		"a\x00b\nc.txt":          "a_b_c.txt",
		"":                       "file",
		strings.Repeat("é", 150): strings.Repeat("é", 100),
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
	if numbered("a.tar.gz", 2) != "a.tar (2).gz" || numbered("noext", 1) != "noext (1)" {
		t.Error("numbered")
	}
}

func TestURLs(t *testing.T) {
	get, _ := url.Parse("https://upload.example.org/abc/My%20File.png")
	iv, key := bytes.Repeat([]byte{1}, 12), bytes.Repeat([]byte{2}, 32)
	s := AESGCMURL(get, iv, key)
	if !strings.HasPrefix(s, "aesgcm://upload.example.org/abc/My%20File.png#010101") || len(s) != len("aesgcm://upload.example.org/abc/My%20File.png#")+88 {
		t.Fatalf("url %s", s)
	}
	l, err := ParseURL(s)
	if err != nil || l.URL != get.String() || !bytes.Equal(l.IV, iv) || !bytes.Equal(l.Key, key) {
		t.Fatalf("parse %+v %v", l, err)
	}
	// 16-byte IVs, as older clients send.
	if l, err := ParseURL("aesgcm://h.example/f#" + strings.Repeat("ab", 16) + strings.Repeat("cd", 32)); err != nil || len(l.IV) != 16 {
		t.Fatalf("16-byte IV: %v", err)
	}
	for _, bad := range []string{"https://h/f#00", "aesgcm://h/f#zz", "aesgcm://h/f#" + strings.Repeat("00", 40), "aesgcm:///f#" + strings.Repeat("00", 44)} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
