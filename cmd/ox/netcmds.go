package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
)

func init() {
	var ac accountConfig
	register(&command{
		name:    "account add",
		args:    "JID",
		summary: "save an account's connection settings (never its password)",
		examples: `  ox account add alice@example.org
  ox account add alice@example.org --server 127.0.0.1:5222 --ca-file ca.pem
  ox account add alice@example.org --password-command 'pass show xmpp/alice'
  ox account add alice@example.org --layout compact   # the XEP's improved node layout
  ox account add alice@example.org --backend gnupg    # keys from GnuPG (~/.gnupg), gpg-agent, smartcards
  ox account add alice@example.org --sasl SCRAM-SHA-1 # for a server whose login negotiation is broken
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ac.Server, "server", "", "connect to `HOST:PORT` instead of looking up the domain")
			fs.StringVar(&ac.CAFile, "ca-file", "", "trust the CA certificates in `FILE` (PEM)")
			fs.BoolVar(&ac.DirectTLS, "direct-tls", false, "TLS from the first byte (XEP-0368) instead of STARTTLS")
			fs.StringVar(&ac.SASL, "sasl", "", "force the SASL `MECHANISM` for a broken server (SCRAM-SHA-256, SCRAM-SHA-1, their -PLUS, PLAIN; env OX_SASL); default: ox chooses")
			fs.StringVar(&ac.PasswordCommand, "password-command", "", "a shell `COMMAND` that prints the password")
			fs.StringVar(&ac.Layout, "layout", "spec", "PEP node layout: spec (XEP-0373 as written) or compact (singleton, notification-only nodes)")
			fs.StringVar(&ac.Backend, "backend", "native", "where the keys live: native (ox's own store) or gnupg (GnuPG through gpg)")
			fs.StringVar(&ac.GnuPGHome, "gnupg-home", "", "the GnuPG home `DIR` for --backend gnupg (default: $GNUPGHOME or ~/.gnupg)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("account add takes one JID")
			}
			j, err := parseAccount(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			if ac.Layout != "spec" && ac.Layout != "compact" {
				return usagef("--layout %q: want spec or compact", ac.Layout)
			}
			switch ac.Backend {
			case "native":
			case "gnupg":
				// Say now, not at the first message, that gpg is missing or too old.
				if err := ox.CheckGnuPG(ac.GnuPGHome); err != nil {
					return err
				}
			default:
				return usagef("--backend %q: want native or gnupg", ac.Backend)
			}
			if ac.GnuPGHome != "" && ac.Backend != "gnupg" {
				return usagef("--gnupg-home needs --backend gnupg")
			}
			if ac.SASL != "" {
				if ac.SASL, err = ox.ParseMechanism(ac.SASL); err != nil {
					return &usageError{"--sasl: " + err.Error()}
				}
			}
			if ac.CAFile != "" {
				if _, err := os.Stat(ac.CAFile); err != nil {
					return withHint(fmt.Errorf("CA file: %w", err), "give the path of a PEM file")
				}
			}
			cfg, path, err := e.loadConfig()
			if err != nil {
				return err
			}
			a := ac
			a.JID = j.String()
			if a.Layout == "spec" {
				a.Layout = ""
			}
			if a.Backend == "native" {
				a.Backend = ""
			}
			if old := cfg.find(a.JID); old != nil {
				*old = a
			} else {
				cfg.Accounts = append(cfg.Accounts, a)
			}
			return saveConfig(path, cfg)
		},
	})
	register(&command{
		name:    "account list",
		summary: "list the saved accounts and their settings",
		run: func(e *env, fs *flag.FlagSet) error {
			cfg, _, err := e.loadConfig()
			if err != nil {
				return err
			}
			for _, a := range cfg.Accounts {
				var parts []string
				if a.Server != "" {
					parts = append(parts, "server "+a.Server)
				}
				if a.DirectTLS {
					parts = append(parts, "direct TLS")
				}
				if a.CAFile != "" {
					parts = append(parts, "CA "+a.CAFile)
				}
				if a.PasswordCommand != "" {
					parts = append(parts, "password command")
				}
				if a.Layout != "" {
					parts = append(parts, "layout "+a.Layout)
				}
				if a.Backend != "" {
					b := "backend " + a.Backend
					if a.GnuPGHome != "" {
						b += " (" + a.GnuPGHome + ")"
					}
					parts = append(parts, b)
				}
				fmt.Fprintf(e.stdout, "%s  %s\n", a.JID, strings.Join(parts, ", "))
			}
			return nil
		},
	})
	register(&command{
		name:    "account remove",
		args:    "JID",
		summary: "forget an account's saved settings (its keys stay in the home)",
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("account remove takes one JID")
			}
			j, err := parseAccount(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			cfg, path, err := e.loadConfig()
			if err != nil {
				return err
			}
			kept := cfg.Accounts[:0]
			found := false
			for _, a := range cfg.Accounts {
				if a.JID == j.String() {
					found = true
					continue
				}
				kept = append(kept, a)
			}
			if !found {
				return withHint(fmt.Errorf("no saved settings for %s", j), "see 'ox account list'")
			}
			cfg.Accounts = kept
			return saveConfig(path, cfg)
		},
	})

	var pubNet netFlags
	var withCerts bool
	register(&command{
		name:    "key publish",
		args:    "[FINGERPRINT]",
		summary: "publish the account's key over PEP (data node, then the metadata node, keeping other devices' keys)",
		examples: `  OX_PASSWORD=… ox key publish
  ox key publish --server 127.0.0.1:5222 --ca-file ca.pem
  ox key publish --with-certifications   # with the certifications you accepted
  ox key publish FINGERPRINT             # after 'ox key revoke': the revoked key, so contacts learn of it
`,
		flags: func(fs *flag.FlagSet) {
			pubNet.register(fs)
			fs.BoolVar(&withCerts, "with-certifications", false, "publish the key with the certifications you accepted from contacts ('ox trust certifications')")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("key publish takes at most one fingerprint")
			}
			o, err := e.connect(e.ctx, &pubNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			ctx := o.ctx
			k, err := ownKey(ctx, o.session, fs.Arg(0))
			if err != nil {
				return err
			}
			if withCerts {
				o.wot.PublishCertifications()
			}
			publish := o.client.Publish
			if k.Revoked {
				publish = o.client.PublishRevoked // keylife.go: contacts learn of the revocation
			}
			rep, err := publish(ctx, k.Fingerprint)
			if err != nil {
				return pepHint(err)
			}
			fmt.Fprintln(e.stdout, k.Fingerprint)
			if withCerts {
				fmt.Fprintf(e.stderr, "ox: with the certifications by %d key(s) you accepted\n", len(rep.Certifiers))
			}
			for _, r := range []ox.PublishResult{rep.Data, rep.Metadata} {
				if r.Fallback != "" {
					fmt.Fprintf(e.stderr, "ox: warning: %s\n", r.Fallback)
				}
			}
			for _, w := range rep.Warnings {
				fmt.Fprintf(e.stderr, "ox: warning: %s\n", w)
			}
			model := rep.AccessModel
			if model == "" {
				model = "unknown"
			}
			fmt.Fprintf(e.stderr, "ox: published; the metadata node announces %d key(s): %s; access model: %s\n", len(rep.Announced), strings.Join(rep.Announced, ", "), model)
			if model != "open" {
				fmt.Fprintf(e.stderr, "ox: warning: the access model is %s, not open: only some contacts can fetch this key\n", model)
			}
			return nil
		},
	})
	var unpubNet netFlags
	register(&command{
		name:    "key unpublish",
		args:    "[FINGERPRINT]",
		summary: "remove the key from the metadata node and delete its data node (other devices' keys stay)",
		flags:   unpubNet.register,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("key unpublish takes at most one fingerprint")
			}
			o, err := e.connect(e.ctx, &unpubNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			ctx := o.ctx
			var fpr pgp.Fingerprint
			if fs.NArg() == 1 {
				if fpr, err = pgp.ParseFingerprint(fs.Arg(0)); err != nil {
					return &usageError{err.Error()}
				}
			} else {
				k, err := ownKey(ctx, o.session, "")
				if err != nil {
					return err
				}
				fpr = k.Fingerprint
			}
			if err := o.client.Unpublish(ctx, fpr); err != nil {
				return pepHint(err)
			}
			fmt.Fprintln(e.stdout, fpr)
			return nil
		},
	})

	var fetchNet netFlags
	var wkdAddress string
	register(&command{
		name:    "cert fetch",
		args:    "JID | --wkd ADDRESS [JID]",
		summary: "fetch the keys a contact (or the account itself) announces over PEP, or with --wkd from a Web Key Directory; print each with what became of it",
		examples: `  ox cert fetch bob@example.org
  ox cert fetch alice@example.org     # what the account itself has published
  ox cert fetch --wkd bob@example.org # needs the user ID xmpp:bob@example.org on the key
  ox cert fetch --wkd bob@mail.example.org bob@example.org
`,
		flags: func(fs *flag.FlagSet) {
			fetchNet.register(fs)
			fs.StringVar(&wkdAddress, "wkd", "", "look the key up in the Web Key Directory of `ADDRESS` (advanced, then direct method)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if wkdAddress != "" {
				if fs.NArg() > 1 {
					return usagef("cert fetch --wkd ADDRESS takes at most one JID")
				}
				return fetchWKD(e, &fetchNet, wkdAddress, fs.Arg(0)) // certs.go
			}
			if fs.NArg() != 1 {
				return usagef("cert fetch takes one JID")
			}
			j, err := parseAccount(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			o, err := e.connect(e.ctx, &fetchNet, true)
			if err != nil {
				return err
			}
			defer o.Close()
			rep, err := fetchKeys(o, j)
			if err != nil {
				return err
			}
			for _, k := range rep.Imported {
				fmt.Fprintf(e.stdout, "%s  fetched\n", k.Fingerprint)
			}
			for _, f := range rep.Unchanged {
				fmt.Fprintf(e.stdout, "%s  unchanged\n", f)
			}
			for _, p := range rep.Rejected {
				fmt.Fprintf(e.stdout, "%s  rejected\n", p.Fingerprint)
				fmt.Fprintf(e.stderr, "ox: warning: %s's key %s was not taken: %s\n", j, p.Fingerprint, p.Reason)
			}
			for _, p := range rep.Kept {
				fmt.Fprintf(e.stderr, "ox: warning: %s's key %s: %s\n", j, p.Fingerprint, p.Reason)
			}
			for _, w := range rep.Warnings {
				fmt.Fprintf(e.stderr, "ox: warning: %s\n", w)
			}
			for _, s := range rep.Skipped {
				fmt.Fprintf(e.stderr, "ox: warning: %s's metadata has an unreadable entry: %s\n", j, s)
			}
			if len(rep.Imported)+len(rep.Unchanged) == 0 {
				return fmt.Errorf("none of the %d key(s) %s announces could be used", len(rep.Announced), j)
			}
			return nil
		},
	})

	var refreshNet netFlags
	register(&command{
		name:    "cert refresh",
		args:    "[JID...]",
		summary: "read every contact's keys again from where they came from (PEP, a Web Key Directory): new certifications, expiry dates and revocations",
		examples: `  ox cert refresh
  ox cert refresh bob@example.org
`,
		flags: func(fs *flag.FlagSet) { refreshNet.register(fs) },
		run: func(e *env, fs *flag.FlagSet) error {
			var jids []jid.JID
			for _, a := range fs.Args() {
				j, err := parseAccount(a)
				if err != nil {
					return &usageError{err.Error()}
				}
				jids = append(jids, j)
			}
			// Online only when some contact's keys came over PEP: keys
			// from a Web Key Directory alone need no XMPP connection.
			var online bool
			if err := e.withStore(false, func(ctx context.Context, s *session) error {
				var err error
				online, err = s.RefreshNeedsNetwork(ctx, jids...)
				return err
			}); err != nil {
				return err
			}
			var rep *ox.RefreshReport
			refresh := func(ctx context.Context, c *ox.Client) error {
				opts, err := e.wkdOptions(&refreshNet, c.JID().String())
				if err != nil {
					return err
				}
				rep, err = c.Refresh(ctx, opts, jids...)
				return pepHint(err)
			}
			if online {
				o, err := e.connect(e.ctx, &refreshNet, true)
				if err != nil {
					return err
				}
				defer o.Close()
				if err := refresh(o.ctx, o.client); err != nil {
					return err
				}
			} else if err := e.withStore(false, func(ctx context.Context, s *session) error { return refresh(ctx, s.Client) }); err != nil {
				return err
			}
			n := 0
			show := func(j jid.JID, from string, k pgp.KeyInfo) {
				n++
				what := "refreshed"
				switch {
				case k.Revoked:
					what = "REVOKED (" + k.RevocationReason.String() + ")"
				case !k.Expires.IsZero():
					what += ", expires " + k.Expires.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(e.stdout, "%s  %s  %s from %s\n", k.Fingerprint, j, what, from)
			}
			for _, fr := range rep.PEP {
				for _, k := range fr.Imported {
					show(fr.JID, "PEP", k)
				}
				for _, p := range fr.Rejected {
					fmt.Fprintf(e.stderr, "ox: warning: %s's key %s was not taken: %s\n", fr.JID, p.Fingerprint, p.Reason)
				}
				for _, p := range fr.Kept {
					fmt.Fprintf(e.stderr, "ox: warning: %s's key %s: %s\n", fr.JID, p.Fingerprint, p.Reason)
				}
			}
			for _, w := range rep.WKD {
				if w.Report != nil {
					for _, k := range w.Report.Imported {
						show(w.JID, "WKD "+w.Address, k)
					}
				}
			}
			for _, f := range rep.Failed {
				fmt.Fprintf(e.stderr, "ox: warning: could not refresh %s\n", f)
			}
			if n == 0 && len(rep.Failed) > 0 {
				return errors.New("no key could be read again; the keys held are unchanged")
			}
			if n == 0 {
				fmt.Fprintln(e.stderr, "ox: no contact's keys to refresh: fetch them first with 'ox cert fetch JID'")
			}
			return nil
		},
	})
}

// fetchKeys fetches j's announced keys: ox cert fetch and the daemon's
// fetchKeys.
func fetchKeys(o *online, j jid.JID) (*ox.FetchReport, error) {
	rep, err := o.client.Fetch(o.ctx, j)
	if errors.Is(err, ox.ErrNoKeysPublished) {
		return nil, withHint(err, j.String()+" has not published an OX key; ask them to, or import one with 'ox cert import FILE'")
	}
	if err != nil {
		return nil, pepHint(err)
	}
	return rep, nil
}

func pepHint(err error) error {
	switch {
	case errors.Is(err, ox.ErrPEPUnsupported):
		return withHint(err, "the server does not offer PEP (XEP-0163), which OX needs")
	case errors.Is(err, ox.ErrPEPForbidden):
		return withHint(err, "the server or the contact does not let you read or write that node")
	case errors.Is(err, ox.ErrAccessModel):
		return withHint(err, "the server cannot make the node private; nothing was published")
	}
	return err
}
