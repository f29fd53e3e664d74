package ejabberd

// Tests of the pieces that need no ejabberd: they run everywhere.

import (
	"bytes"
	"strings"
	"testing"
)

func TestConfigTemplate(t *testing.T) {
	render := func(d cfgData) string {
		t.Helper()
		var b bytes.Buffer
		if err := cfgTmpl.Execute(&b, d); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	d := cfgData{Domain: "localhost", CertFile: `/tmp/a "b"/server.pem`, CAFile: "/tmp/ca.crt", C2SPort: 40001, TLSPort: 40002, HTTPPort: 40003}
	cfg := render(d)
	for _, want := range []string{
		"port: 40001\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s",
		"starttls_required: true",
		"port: 40002\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s\n    max_stanza_size: 262144\n    access: c2s\n    tls: true",
		`- "/tmp/a \"b\"/server.pem"`, // quoted: a path is never YAML syntax
		"s2s_access: none",
		"mod_mam:", "mod_pubsub:", "mod_carboncopy:", "mod_offline:", "mod_stream_mgmt:", "mod_muc:",
		"anonymous: false",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	for _, not := range []string{"40003", "mod_http_upload", "0.0.0.0", `ip: "::`} {
		if strings.Contains(cfg, not) {
			t.Errorf("config has %q without HTTPUpload", not)
		}
	}
	d.HTTPUpload, d.UploadDir = true, "/tmp/up"
	cfg = render(d)
	for _, want := range []string{"port: 40003\n    ip: \"127.0.0.1\"\n    module: ejabberd_http", "mod_http_upload:", `put_url: "https://127.0.0.1:40003/upload"`, `docroot: "/tmp/up"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("HTTPUpload config lacks %q", want)
		}
	}
}

func TestCheckAccount(t *testing.T) {
	for _, c := range []struct{ local, password string }{{"", "x"}, {"a@b", "x"}, {"a/b", "x"}, {"a b", "x"}, {"alice", ""}, {"alice", "a\tb"}, {"alice", "a\nb"}} {
		if checkAccount(c.local, c.password) == nil {
			t.Errorf("checkAccount(%q, %q) accepted", c.local, c.password)
		}
	}
	if err := checkAccount("alice", "alice-pass"); err != nil {
		t.Error(err)
	}
}
