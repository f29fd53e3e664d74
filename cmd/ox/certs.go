package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
)

func init() {
	register(&command{
		name:    "cert import",
		args:    "FILE",
		summary: "import contacts' public keys (binary or armored; - for standard input)",
		examples: `  ox cert import bob.pgp
  curl -s https://example.org/bob.asc | ox cert import -
`,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("cert import takes one FILE (or - for standard input)")
			}
			data, err := e.readLimited(fs.Arg(0), limitKeys)
			if err != nil {
				return err
			}
			if holdsSecretKey(data) {
				return withHint(errors.New(fs.Arg(0)+" holds a secret key, not a contact's certificate"), "to use it as your own key, run 'ox key import FILE'")
			}
			return e.withStore(true, func(ctx context.Context, s *session) error {
				ks, err := s.backend.Import(ctx, data)
				if err != nil {
					return withHint(err, "nothing was changed by the failed certificate")
				}
				for _, k := range ks {
					fmt.Fprintf(e.stdout, "%s  %s\n", k.Fingerprint, strings.Join(k.UserIDs, ", "))
					if len(k.XMPPAddresses()) == 0 {
						fmt.Fprintf(e.stderr, "ox: warning: certificate %s has no xmpp: user ID: ox will not use it for any contact\n", k.Fingerprint)
					}
				}
				return nil
			})
		},
	})

	register(&command{
		name:    "cert list",
		summary: "list contacts' certificates",
		examples: `  ox cert list
`,
		run: func(e *env, fs *flag.FlagSet) error {
			return e.withStore(false, func(ctx context.Context, s *session) error {
				ks, err := s.backend.List(ctx)
				if err != nil {
					return err
				}
				for _, k := range ks {
					if !k.Secret {
						printKeyLine(e.stdout, &k, s.now())
					}
				}
				return nil
			})
		},
	})

	register(&command{
		name:    "cert show",
		args:    "JID|FINGERPRINT",
		summary: "show a certificate: user IDs, subkeys and what they can do, expiry, revocation",
		examples: `  ox cert show bob@example.org
  ox cert show "3EC1 0129 40BF 2505 DE66  1858 CE26 F77F 77D5 678B"
`,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("cert show takes one JID or fingerprint")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				ks, err := findCerts(ctx, s, fs.Arg(0))
				if err != nil {
					return err
				}
				for i, k := range ks {
					if i > 0 {
						fmt.Fprintln(e.stdout)
					}
					showKey(e.stdout, &k, s.now())
				}
				return nil
			})
		},
	})
}

// findCerts resolves a fingerprint or a JID to stored keys.
func findCerts(ctx context.Context, s *session, arg string) ([]pgp.KeyInfo, error) {
	if f, err := pgp.ParseFingerprint(arg); err == nil {
		k, err := s.backend.Key(ctx, f)
		if errors.Is(err, pgp.ErrNotFound) {
			return nil, withHint(fmt.Errorf("no key %s is stored", f), "import it with 'ox cert import FILE'")
		}
		return []pgp.KeyInfo{k}, err
	}
	j, err := parseAccount(arg)
	if err != nil {
		return nil, &usageError{arg + " is neither a fingerprint nor a JID"}
	}
	ks, err := s.backend.Lookup(ctx, j)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, withHint(fmt.Errorf("no key with the user ID %s is stored", pgp.UserID(j)), "import the contact's key with 'ox cert import FILE'")
	}
	return ks, nil
}

func showKey(w io.Writer, k *pgp.KeyInfo, now time.Time) {
	kind := "certificate"
	if k.Secret {
		kind = "own key"
	}
	fmt.Fprintf(w, "%-12s %s\n", kind, k.Fingerprint.Grouped())
	for _, u := range k.UserIDs {
		fmt.Fprintf(w, "%-12s %s\n", "user ID", u)
	}
	for _, c := range k.Certifications {
		showCertification(w, c) // wotcmds.go
	}
	fmt.Fprintf(w, "%-12s %s\n", "created", k.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "%-12s %s\n", "expires", expires(k.Expires, now))
	if k.Revoked {
		fmt.Fprintf(w, "%-12s %s\n", "revoked", revocationText(k)) // keylife.go
	}
	verdict := "usable"
	if err := k.Usable(now); err != nil {
		var ue *pgp.KeyUnusableError
		if errors.As(err, &ue) {
			verdict = "unusable: " + ue.Reason.String()
		}
	}
	fmt.Fprintf(w, "%-12s %s\n", "status", verdict)
	if k.Validity != "" {
		fmt.Fprintf(w, "%-12s %s (in your GnuPG)\n", "validity", k.Validity)
	}
	fmt.Fprintf(w, "%-12s %s [%s]\n", "primary", k.Algorithm, k.Capabilities)
	for _, sk := range k.Subkeys {
		extra := ""
		if sk.Revoked {
			extra = " revoked"
		}
		fmt.Fprintf(w, "%-12s %s %s [%s] expires %s%s\n", "subkey", sk.Fingerprint.Grouped(), sk.Algorithm, sk.Capabilities, expires(sk.Expires, now), extra)
	}
}

func expires(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "never"
	case !now.Before(t):
		return t.Format(time.RFC3339) + " (expired)"
	}
	return t.Format(time.RFC3339)
}

// fetchWKD is 'ox cert fetch --wkd ADDRESS [JID]': the key for the mail
// address ADDRESS from its domain's Web Key Directory, imported for JID
// (by default the address read as a JID) only if it carries the user ID
// xmpp:JID. HTTPS trusts the CA file of the account's XMPP connection
// (--ca-file, OX_CA_FILE, the saved one) when one is set; OX_WKD_SERVER
// (HOST:PORT) connects to that server instead of the domain's.
func fetchWKD(e *env, n *netFlags, address, jidArg string) error {
	if jidArg == "" {
		jidArg = address
	}
	j, err := parseAccount(jidArg)
	if err != nil {
		return &usageError{err.Error()}
	}
	return e.withStore(true, func(ctx context.Context, s *session) error {
		opts, err := e.wkdOptions(n, s.jid.String())
		if err != nil {
			return err
		}
		rep, err := s.FetchWKD(ctx, address, j, opts)
		if errors.Is(err, ox.ErrWKDNotFound) {
			return withHint(err, "ask "+address+" for their key, or fetch it over XMPP with 'ox cert fetch JID'")
		}
		if rep == nil {
			return err
		}
		for _, k := range rep.Imported {
			fmt.Fprintf(e.stdout, "%s  fetched (WKD, %s method)\n", k.Fingerprint, rep.Method)
		}
		var ue *ox.WKDUserIDError
		if errors.As(err, &ue) {
			for _, k := range ue.Keys {
				fmt.Fprintf(e.stdout, "%s  rejected\n", k.Fingerprint)
			}
			if len(rep.Imported) == 0 {
				return withHint(err, "only a key that carries the user ID "+pgp.UserID(j)+" is taken for "+j.String()+"; a WKD vouches for a mail address only")
			}
			fmt.Fprintf(e.stderr, "ox: warning: %v\n", err)
			return nil
		}
		return err
	})
}

// wkdOptions are the HTTPS settings of Web Key Directory lookups for the
// account: the CA file of its XMPP connection (--ca-file, OX_CA_FILE, the
// saved one) when one is set; OX_WKD_SERVER (HOST:PORT) connects to that
// server instead of the domain's.
func (e *env) wkdOptions(n *netFlags, account string) (ox.WKDOptions, error) {
	var opts ox.WKDOptions
	cfg, _, err := e.loadConfig()
	if err != nil {
		return opts, err
	}
	saved := ""
	if ac := cfg.find(account); ac != nil {
		saved = ac.CAFile
	}
	if caFile := first(n.caFile, e.getenv("OX_CA_FILE"), saved); caFile != "" {
		pool, err := loadCAFile(caFile)
		if err != nil {
			return opts, err
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if srv := e.getenv("OX_WKD_SERVER"); srv != "" {
		opts.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv)
		}
	}
	return opts, nil
}

// loadCAFile reads PEM CA certificates.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, withHint(fmt.Errorf("CA file: %w", err), "give a PEM file with --ca-file or OX_CA_FILE")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, withHint(fmt.Errorf("CA file %s holds no PEM certificate", path), "give a PEM file with --ca-file or OX_CA_FILE")
	}
	return pool, nil
}
