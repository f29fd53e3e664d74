package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
)

// A key's later life: revoke (with a reason, or through the certificate
// made with the key), renew.

func init() {
	var reason, text, certFile string
	register(&command{
		name:    "key revoke",
		args:    "[FINGERPRINT]",
		summary: "revoke your key, saying why; or, with --certificate, any stored key through its revocation certificate (no secret needed)",
		examples: `  ox --account alice@example.org key revoke --reason superseded --text 'new key 0x3EC1...'
  ox --account alice@example.org key revoke 3EC1012940BF2505DE661858CE26F77F77D5678B --reason compromised
  ox --account alice@example.org key revoke --certificate revocs/3EC1012940BF2505DE661858CE26F77F77D5678B.rev
  ox --account alice@example.org key publish 3EC1012940BF2505DE661858CE26F77F77D5678B  # tell contacts

Reasons: compromised (the secret got out: nothing the key ever signed is
trusted any more), superseded (replaced by a new key), retired (no longer
used); what a superseded or retired key signed before stays readable.
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "why: compromised, superseded or retired")
			fs.StringVar(&text, "text", "", "an explanation for contacts, stored in the revocation")
			fs.StringVar(&certFile, "certificate", "", "apply this revocation certificate instead (from 'ox key generate', or GnuPG's openpgp-revocs.d)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if certFile != "" {
				if fs.NArg() != 0 || reason != "" || text != "" {
					return usagef("--certificate takes no fingerprint, --reason or --text: the certificate says which key, and why")
				}
				data, err := e.readInput(certFile)
				if err != nil {
					return err
				}
				return e.withStore(false, func(ctx context.Context, s *session) error {
					l, err := lifecycleOf(s)
					if err != nil {
						return err
					}
					k, err := l.ApplyRevocation(ctx, data)
					if errors.Is(err, pgp.ErrNotFound) {
						return withHint(err, "import the key first ('ox cert import FILE' or 'ox cert fetch JID'), then apply the certificate")
					}
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, k.Fingerprint)
					fmt.Fprintf(e.stderr, "ox: key %s is revoked (%s)\n", k.Fingerprint, revocationText(&k))
					if k.Secret {
						fmt.Fprintf(e.stderr, "ox: hint: publish it with 'ox key publish %s' so that contacts learn of it\n", k.Fingerprint)
					}
					return nil
				})
			}
			if reason == "" {
				return usagef("say why the key is revoked: --reason compromised, superseded or retired (or --certificate FILE)")
			}
			r, err := pgp.ParseRevocationReason(reason)
			if err != nil || r == pgp.RevocationNoReason {
				return usagef("--reason %q: want compromised, superseded or retired", reason)
			}
			if fs.NArg() > 1 {
				return usagef("key revoke takes at most one fingerprint")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				k, err := lifeKey(ctx, s, strings.Join(fs.Args(), " "))
				if err != nil {
					return err
				}
				l, err := lifecycleOf(s)
				if err != nil {
					return err
				}
				k, err = l.Revoke(ctx, k.Fingerprint, pgp.RevokeOptions{Reason: r, Text: text})
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, k.Fingerprint)
				fmt.Fprintf(e.stderr, "ox: key %s is revoked (%s)\n", k.Fingerprint, revocationText(&k))
				fmt.Fprintf(e.stderr, "ox: hint: publish it with 'ox key publish %s' so that contacts learn of it\n", k.Fingerprint)
				return nil
			})
		},
	})

	var expire string
	register(&command{
		name:    "key renew",
		args:    "[FINGERPRINT]",
		summary: "extend the expiry of your key and its subkeys (new self-signatures; with GnuPG: gpg --quick-set-expire)",
		examples: `  ox --account alice@example.org key renew                # two more years from now
  ox --account alice@example.org key renew --expire 1y
  ox --account alice@example.org key renew --expire never
  ox --account alice@example.org key publish              # then tell contacts
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&expire, "expire", "2y", "the new lifetime from now: never, 2y, 90d, 4w, 12h")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("key renew takes at most one fingerprint")
			}
			d, err := parseExpiry(expire)
			if err != nil {
				return &usageError{err.Error()}
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				k, err := lifeKey(ctx, s, strings.Join(fs.Args(), " "))
				if err != nil {
					return err
				}
				l, err := lifecycleOf(s)
				if err != nil {
					return err
				}
				k, err = l.Renew(ctx, k.Fingerprint, d)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, k.Fingerprint)
				when := "never expires"
				if !k.Expires.IsZero() {
					when = "expires " + k.Expires.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(e.stderr, "ox: key %s now %s\n", k.Fingerprint, when)
				fmt.Fprintln(e.stderr, "ox: hint: publish it with 'ox key publish' so that contacts see the new expiry")
				return nil
			})
		},
	})

	var rotateNet netFlags
	var rotateGrace, rotateExpire string
	var rotateProtect bool
	register(&command{
		name:    "key rotate",
		summary: "replace the account's key by a new one: both are used during a grace period, then the old one is revoked (superseded)",
		examples: `  ox key rotate                     # 7 days of grace, a key for 2 years
  ox key rotate --grace 30d --expire never
`,
		flags: func(fs *flag.FlagSet) {
			rotateNet.register(fs)
			fs.StringVar(&rotateGrace, "grace", "7d", "how long the old key stays in use beside the new one: 30d, 12h, 0 (revoked at the next connection)")
			fs.StringVar(&rotateExpire, "expire", "2y", "how long the new key is valid: never, 2y, 90d")
			fs.BoolVar(&rotateProtect, "protect", false, "protect the new secret key with a passphrase (OX_KEY_PASSPHRASE, or asked twice)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("key rotate takes no arguments")
			}
			opts := ox.RotateOptions{Grace: -1}
			if rotateGrace != "0" {
				g, err := parseExpiry(rotateGrace)
				if err != nil || g <= 0 {
					return usagef("--grace: want a duration such as 7d, 30d, 12h or 0, not %q", rotateGrace)
				}
				opts.Grace = g
			}
			d, err := parseExpiry(rotateExpire)
			if err != nil {
				return &usageError{err.Error()}
			}
			opts.Expiry = d
			if rotateProtect {
				if opts.Passphrase, err = e.newPassphrase("OX_KEY_PASSPHRASE"); err != nil {
					return err
				}
			}
			o, err := e.connect(e.ctx, &rotateNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			r, err := o.client.Rotate(o.ctx, opts)
			if r != nil && !r.New.Fingerprint.IsZero() {
				fmt.Fprintln(e.stdout, r.New.Fingerprint)
			}
			if err != nil {
				return pepHint(err)
			}
			writeRevocationCertificate(o.ctx, e, o.session, r.New)
			for _, f := range r.Old {
				fmt.Fprintf(e.stderr, "ox: key %s stays in use beside the new one until %s, then it is revoked as superseded (at the first ox command online after that)\n", f, r.Until.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(e.stderr, "ox: published the new key %s; contacts encrypt to both keys until then\n", r.New.Fingerprint)
			if r.Backup != "" {
				fmt.Fprintf(e.stderr, "ox: your backup on the server now holds the new key; its new backup code (the old one no longer opens it):\n")
				fmt.Fprintln(e.stdout, r.Backup)
			}
			return nil
		},
	})
}

func lifecycleOf(s *session) (pgp.KeyLifecycle, error) {
	l, ok := s.backend.(pgp.KeyLifecycle)
	if !ok {
		return nil, errors.New("this account's OpenPGP backend cannot revoke or renew keys")
	}
	return l, nil
}

// lifeKey picks the own key to revoke or renew: the one named, or the
// account's newest own key with its user ID that is not revoked, expired or
// not (an expired key is renewed all the same).
func lifeKey(ctx context.Context, s *session, arg string) (pgp.KeyInfo, error) {
	if arg != "" {
		return ownKey(ctx, s, arg)
	}
	ks, err := s.backend.SecretKeys(ctx)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	var mine []pgp.KeyInfo
	for _, k := range ks {
		if !k.Revoked && k.HasUserID(s.jid) {
			mine = append(mine, k)
		}
	}
	switch len(mine) {
	case 0:
		return pgp.KeyInfo{}, withHint(fmt.Errorf("account %s has no key that is not revoked", s.jid), "list your keys with 'ox key list'")
	case 1:
		return mine[0], nil
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Created.After(mine[j].Created) })
	return pgp.KeyInfo{}, usagef("say which key: account %s has %d keys (%s, ...; 'ox key list')", s.jid, len(mine), mine[0].Fingerprint)
}

// revocationText says why a key is revoked, and since when.
func revocationText(k *pgp.KeyInfo) string {
	s := k.RevocationReason.String()
	if k.RevocationReason == pgp.RevocationNoReason {
		s = "no reason given"
	}
	if k.RevocationText != "" {
		s += ": " + fmt.Sprintf("%q", k.RevocationText)
	}
	if !k.RevokedAt.IsZero() {
		s += ", on " + k.RevokedAt.UTC().Format(time.RFC3339)
	}
	return s
}

// writeRevocationCertificate keeps the revocation certificate of a new key
// in the account's directory, revocs/FINGERPRINT.rev (0600, never
// overwritten), as GnuPG keeps its own in openpgp-revocs.d, and says where:
// with it the key can be revoked once its secret is lost. A failure is a
// warning: the key is made.
func writeRevocationCertificate(ctx context.Context, e *env, s *session, k pgp.KeyInfo) {
	warn := func(err error) {
		fmt.Fprintf(e.stderr, "ox: warning: no revocation certificate was saved: %v\n", err)
	}
	l, err := lifecycleOf(s)
	if err != nil {
		warn(err)
		return
	}
	_, dir, err := e.whichAccount()
	if err != nil {
		warn(err)
		return
	}
	cert, err := l.RevocationCertificate(ctx, k.Fingerprint)
	if err != nil {
		warn(err)
		return
	}
	dir = filepath.Join(dir, "revocs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		warn(err)
		return
	}
	path := filepath.Join(dir, k.Fingerprint.String()+".rev")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		warn(err)
		return
	}
	if _, err := f.Write(cert); err != nil {
		f.Close()
		warn(err)
		return
	}
	if err := f.Close(); err != nil {
		warn(err)
		return
	}
	fmt.Fprintf(e.stderr, "ox: revocation certificate saved in %s: keep a copy apart; 'ox key revoke --certificate FILE' revokes the key even without its secret\n", path)
}

// warnExpiring warns of the own keys that expire within
// pgp.RenewBefore (ox.Client.ExpiringKeys).
func warnExpiring(ctx context.Context, w io.Writer, s *session) error {
	ks, err := s.ExpiringKeys(ctx, s.now())
	if err != nil {
		return err
	}
	for _, k := range ks {
		fmt.Fprintf(w, "ox: warning: your key %s expires on %s\nox: hint: renew it with 'ox key renew %s', then 'ox key publish'\n",
			k.Fingerprint, k.Expires.UTC().Format("2006-01-02"), k.Fingerprint)
	}
	return nil
}

// listAnnounced is 'ox key list --announced': every key the account's
// metadata node announces, with its date, whether this device holds its
// secret, and its state where this device knows the key.
func listAnnounced(e *env, n *netFlags) error {
	o, err := e.connect(e.ctx, n, false)
	if err != nil {
		return err
	}
	defer o.Close()
	as, err := o.client.OwnAnnounced(o.ctx)
	if err != nil {
		return pepHint(err)
	}
	if len(as) == 0 {
		fmt.Fprintf(e.stderr, "ox: account %s announces no key\n", o.session.jid)
	}
	for _, a := range as {
		where, st := "other device", "not stored here ('ox cert fetch "+o.session.jid.String()+"')"
		if a.Secret() {
			where = "this device"
		}
		if a.Key != nil {
			st = status(a.Key, o.session.now())
		}
		fmt.Fprintf(e.stdout, "%s  announced %s  %-12s  %s\n", a.Fingerprint, a.Date.UTC().Format(time.RFC3339), where, st)
	}
	return nil
}

func init() {
	var removeNet netFlags
	var text string
	register(&command{
		name:    "key remove",
		args:    "FINGERPRINT",
		summary: "take a lost device's key out of use: revoked (compromised) and published when this device holds its secret, else unpublished",
		examples: `  ox key list --announced                  # which keys the account announces, and where
  ox key remove 3EC1012940BF2505DE661858CE26F77F77D5678B --text 'phone lost'
`,
		flags: func(fs *flag.FlagSet) {
			removeNet.register(fs)
			fs.StringVar(&text, "text", "", "an explanation for contacts, stored in the revocation")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() == 0 {
				return usagef("key remove takes the FINGERPRINT of the lost device's key ('ox key list --announced')")
			}
			f, err := pgp.ParseFingerprint(strings.Join(fs.Args(), " "))
			if err != nil {
				return &usageError{err.Error()}
			}
			o, err := e.connect(e.ctx, &removeNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			r, err := o.client.RemoveDevice(o.ctx, f, text)
			if err != nil {
				return pepHint(err)
			}
			fmt.Fprintln(e.stdout, f)
			if r.Revoked {
				fmt.Fprintf(e.stderr, "ox: key %s is revoked (%s) and published revoked: contacts learn of it when they fetch it\n", f, revocationText(&r.Key))
				fmt.Fprintln(e.stderr, "ox: hint: this device held that key too; make a new one with 'ox key generate --force' and publish it")
				return nil
			}
			fmt.Fprintf(e.stderr, "ox: key %s is no longer announced: contacts stop using it when they see the change\n", f)
			return nil
		},
	})
}
