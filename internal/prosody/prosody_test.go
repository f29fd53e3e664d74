package prosody

// Tests of the pieces that need no Prosody binary: they run everywhere.

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox/internal/testcert"
)

func TestLuaString(t *testing.T) {
	for in, want := range map[string]string{
		"":                  `""`,
		"/tmp/x/data":       `"/tmp/x/data"`,
		`a"b\c`:             `"a\"b\\c"`,
		"line\nbreak\x00\r": `"line\010break\000\013"`,
		"]]--":              `"]]--"`,
	} {
		if got := luaString(in); got != want {
			t.Errorf("luaString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCheckDomain(t *testing.T) {
	for _, ok := range []string{"localhost", "ox.localhost", "a-b.example", "x1"} {
		if err := checkDomain(ok); err != nil {
			t.Errorf("checkDomain(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "a..b", "Localhost", "a b", `x"y`, "a/b", "a@b", strings.Repeat("a", 64)} {
		if err := checkDomain(bad); err == nil {
			t.Errorf("checkDomain(%q) accepted", bad)
		}
	}
}

func TestWriteCerts(t *testing.T) {
	dir := t.TempDir()
	files, err := testcert.Write(filepath.Join(dir, "certs"), []string{"localhost", "conference.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("wrote %d files, want 3 (CA, leaf, leaf key; never the CA key)", len(entries))
	}
	for _, f := range []string{files.CAFile, files.CertFile, files.KeyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	ca := readCert(t, files.CAFile)
	leaf := readCert(t, files.CertFile)
	if !ca.IsCA || leaf.IsCA {
		t.Fatalf("CA IsCA=%v, leaf IsCA=%v", ca.IsCA, leaf.IsCA)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"localhost", "conference.localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: time.Now()}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.org"}); err == nil {
		t.Error("leaf verifies for example.org")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("leaf verifies without the throw-away CA")
	}
	key, err := os.ReadFile(files.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(key)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PKCS #8 PEM block")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigTemplate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prosody.cfg.lua")
	data := cfgData{
		Domain: "localhost", MUCDomain: "conference.localhost",
		DataDir: `/tmp/we"ird/data`, CertDir: "/c", CertFile: "/c/localhost.crt", KeyFile: "/c/localhost.key",
		LogFile: "/l/prosody.log", C2SPort: 40001, TLSPort: 40002,
		ExtraConfig: "c2s_timeout = 60",
	}
	if err := writeConfig(path, data); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for _, want := range []string{
		"run_as_root = true",
		`data_path = "/tmp/we\"ird/data"`,
		"c2s_ports = { 40001 }",
		"c2s_direct_tls_ports = { 40002 }",
		`interfaces = { "127.0.0.1" }`,
		"c2s_require_encryption = true",
		`storage = "internal"`,
		`"mam";`, `"pep";`, `"carbons";`, `"offline";`, `"smacks";`, `"blocklist";`,
		`modules_disabled = { "s2s"; "s2s_auth_certs"; "dialback" }`,
		"pep_max_items = 10000",
		"default_archive_policy = true",
		`archive_expires_after = "never"`,
		`VirtualHost "localhost"`,
		`Component "conference.localhost" "muc"`,
		`modules_enabled = { "muc_mam" }`,
		"muc_room_default_public_jids = true",
		"muc_room_default_persistent = true",
		"muc_room_default_members_only = false",
		"muc_room_locking = false",
		`filename = "/l/prosody.log"`,
		`min = "info"`,
		"c2s_timeout = 60",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	for _, unwanted := range []string{"5222", "5223", "0.0.0.0", "stanza_debug", "daemonize"} {
		if strings.Contains(cfg, unwanted) {
			t.Errorf("config contains %q", unwanted)
		}
	}
	// ExtraConfig lands in the global section, before the VirtualHost.
	if strings.Index(cfg, "c2s_timeout = 60") > strings.Index(cfg, "VirtualHost") {
		t.Error("ExtraConfig after VirtualHost")
	}

	data.Debug = true
	if err := writeConfig(path, data); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path)
	if !strings.Contains(string(raw), `"stanza_debug";`) || !strings.Contains(string(raw), `min = "debug"`) {
		t.Error("Debug does not log stanzas at debug level")
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	if ports[0] == ports[1] || ports[0] == 5222 || ports[1] == 5222 {
		t.Fatalf("ports %v", ports)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not free after freePorts: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, req string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"", "0", false},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("OX_REQUIRE_INTEGRATION", c.req)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q OX_REQUIRE_INTEGRATION=%q: Required() = %v", c.ci, c.req, got)
		}
	}
}
