package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
)

// dataDir is where accounts' stores live: --home, OX_HOME, or
// $XDG_DATA_HOME/ox (~/.local/share/ox).
func (e *env) dataDir() (string, error) {
	if e.home == "" {
		e.home = e.getenv("OX_HOME")
	}
	if e.home != "" {
		return filepath.Abs(e.home)
	}
	if d := e.getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ox"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", withHint(fmt.Errorf("cannot find a home directory: %w", err), "set --home DIR or OX_HOME")
	}
	return filepath.Join(h, ".local", "share", "ox"), nil
}

// parseAccount reads a JID as people write it: bare, or as an xmpp: URI.
func parseAccount(s string) (jid.JID, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "xmpp:"))
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, fmt.Errorf("%q is not a valid JID: %v", s, err)
	}
	if j.Localpart() == "" {
		return jid.JID{}, fmt.Errorf("%q is not an account: want a JID like alice@example.org", s)
	}
	return j.Bare(), nil
}

// account picks the account: --account, OX_JID, or the only one in the home.
func (e *env) whichAccount() (jid.JID, string, error) {
	data, err := e.dataDir()
	if err != nil {
		return jid.JID{}, "", err
	}
	acct := e.account
	if acct == "" {
		acct = e.getenv("OX_JID")
	}
	if acct != "" {
		j, err := parseAccount(acct)
		if err != nil {
			return jid.JID{}, "", &usageError{"--account: " + err.Error()}
		}
		return j, filepath.Join(data, "accounts", j.String()), nil
	}
	entries, _ := os.ReadDir(filepath.Join(data, "accounts"))
	seen := map[string]bool{}
	var names []string
	for _, d := range entries {
		if d.IsDir() && !seen[d.Name()] {
			seen[d.Name()] = true
			names = append(names, d.Name())
		}
	}
	if cfg, _, err := e.loadConfig(); err == nil {
		for _, a := range cfg.Accounts {
			if !seen[a.JID] {
				seen[a.JID] = true
				names = append(names, a.JID)
			}
		}
	}
	switch len(names) {
	case 0:
		return jid.JID{}, "", withHint(fmt.Errorf("no account in %s", data), "say which with --account alice@example.org (or OX_JID)")
	case 1:
		j, err := parseAccount(names[0])
		if err != nil {
			return jid.JID{}, "", err
		}
		return j, filepath.Join(data, "accounts", names[0]), nil
	}
	sort.Strings(names)
	return jid.JID{}, "", withHint(fmt.Errorf("%s holds several accounts (%s)", data, strings.Join(names, ", ")), "say which with --account JID (or OX_JID)")
}

// session is an open account: a Client without a session to the server
// until connect gives it one.
type session struct {
	*ox.Client
	jid     jid.JID
	backend pgp.Backend
	now     func() time.Time
}

func (s *session) Close() { s.Client.Close() }

// open opens the current account's store; with create unset, an account
// that has no data yet is an error that says how to start.
func (e *env) open(ctx context.Context, create bool) (*session, error) {
	j, dir, err := e.whichAccount()
	if err != nil {
		return nil, err
	}
	kind, gpgHome, err := e.backendFor(j)
	if err != nil {
		return nil, err
	}
	c, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: j, Dir: dir, Backend: kind, GnuPGHome: gpgHome, Create: create, Now: clock, Passphrase: e.passphraseFunc(j)})
	if errors.Is(err, ox.ErrNoAccount) {
		return nil, withHint(err, "make a key with 'ox --account "+j.String()+" key generate', or import yours with 'ox key import FILE'")
	}
	if err != nil {
		return nil, err
	}
	return &session{Client: c, jid: j, backend: c.Backend, now: clock}, nil
}

// backendFor says which OpenPGP backend an account uses: OX_BACKEND, or the
// account's saved setting, or the embedded one; and for GnuPG, its home
// (OX_GNUPGHOME, the saved one, or gpg's own: $GNUPGHOME, ~/.gnupg).
func (e *env) backendFor(j jid.JID) (kind, gpgHome string, err error) {
	kind, gpgHome = e.getenv("OX_BACKEND"), e.getenv("OX_GNUPGHOME")
	if cfg, _, err := e.loadConfig(); err == nil {
		if ac := cfg.find(j.String()); ac != nil {
			if kind == "" {
				kind = ac.Backend
			}
			if gpgHome == "" {
				gpgHome = ac.GnuPGHome
			}
		}
	}
	switch kind {
	case "", "native":
		return "native", "", nil
	case "gnupg":
		return kind, gpgHome, nil
	}
	return "", "", withHint(fmt.Errorf("account %s: unknown OpenPGP backend %q", j, kind),
		"use native or gnupg ('ox account add "+j.String()+" --backend gnupg', or OX_BACKEND)")
}

// parseExpiry reads --expire: never, or a count of y(ears), w(eeks),
// d(ays), or a Go duration (90m, 12h).
func parseExpiry(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "never" || s == "0" {
		return 0, nil
	}
	units := map[byte]time.Duration{'y': 365 * 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour}
	if len(s) > 1 {
		if u, ok := units[s[len(s)-1]]; ok {
			n, err := strconv.Atoi(s[:len(s)-1])
			if err == nil && n > 0 && n <= 100*365 {
				return time.Duration(n) * u, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--expire %q: want never, 2y, 90d, 4w or a duration like 12h", s)
	}
	return d, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// withStore runs f with the current account's store open (created first
// when create is set), and closes it afterwards.
func (e *env) withStore(create bool, f func(ctx context.Context, s *session) error) error {
	ctx := e.ctx
	s, err := e.open(ctx, create)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(ctx, s)
}
