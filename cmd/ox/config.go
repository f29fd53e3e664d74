package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// accountConfig is one account's saved settings. Passwords are never saved:
// they come from OX_PASSWORD, a password command, or a prompt.
type accountConfig struct {
	JID             string `json:"jid"`
	Server          string `json:"server,omitempty"`           // host:port; empty: DNS SRV
	CAFile          string `json:"ca_file,omitempty"`          // PEM roots for a private server
	DirectTLS       bool   `json:"direct_tls,omitempty"`       // XEP-0368 instead of STARTTLS
	SASL            string `json:"sasl,omitempty"`             // a forced SASL mechanism; empty: ox chooses
	PasswordCommand string `json:"password_command,omitempty"` // run with sh -c; its first line is the password
	Layout          string `json:"layout,omitempty"`           // "spec" (default) or "compact"
	Backend         string `json:"backend,omitempty"`          // "native" (default) or "gnupg"
	GnuPGHome       string `json:"gnupg_home,omitempty"`       // GNUPGHOME for the gnupg backend; empty: gpg's own
	// KeyPassphraseCommand is run with sh -c; its first line is the
	// passphrase of the account's protected secret keys.
	KeyPassphraseCommand string `json:"key_passphrase_command,omitempty"`
}

type config struct {
	Accounts []accountConfig `json:"accounts"`
}

// configPath is --home/config.json, or $XDG_CONFIG_HOME/ox/config.json.
func (e *env) configPath() (string, error) {
	if e.home == "" {
		e.home = e.getenv("OX_HOME")
	}
	if e.home != "" {
		h, err := filepath.Abs(e.home)
		return filepath.Join(h, "config.json"), err
	}
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "ox", "config.json"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", withHint(fmt.Errorf("cannot find a home directory: %w", err), "set --home DIR or OX_HOME")
	}
	return filepath.Join(h, ".config", "ox", "config.json"), nil
}

func (e *env) loadConfig() (*config, string, error) {
	p, err := e.configPath()
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return &config{}, p, nil
	}
	if err != nil {
		return nil, p, err
	}
	var c config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, p, withHint(fmt.Errorf("config file %s: %v", p, err), "fix or remove the file")
	}
	return &c, p, nil
}

// saveConfig writes the file whole and atomically (0600: it may name a
// password command).
func saveConfig(path string, c *config) error {
	sort.Slice(c.Accounts, func(i, j int) bool { return c.Accounts[i].JID < c.Accounts[j].JID })
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (c *config) find(j string) *accountConfig {
	for i := range c.Accounts {
		if c.Accounts[i].JID == j {
			return &c.Accounts[i]
		}
	}
	return nil
}
