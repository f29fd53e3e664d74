package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
)

func init() {
	var expire string
	var force, protect bool
	register(&command{
		name:    "key generate",
		summary: "make a new key for the account and print its fingerprint",
		examples: `  ox --account alice@example.org key generate
  ox --account alice@example.org key generate --expire never
  ox --account alice@example.org key generate --expire 90d
  ox --account alice@example.org key generate --protect   # passphrase: OX_KEY_PASSPHRASE, or asked twice
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&expire, "expire", "2y", "how long the key is valid: never, 2y, 90d, 4w, 12h")
			fs.BoolVar(&force, "force", false, "make another key even though the account has one")
			fs.BoolVar(&protect, "protect", false, "protect the secret key with a passphrase (OX_KEY_PASSPHRASE, or asked twice)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("key generate takes no arguments")
			}
			d, err := parseExpiry(expire)
			if err != nil {
				return &usageError{err.Error()}
			}
			var pass []byte
			if protect {
				if pass, err = e.newPassphrase("OX_KEY_PASSPHRASE"); err != nil {
					return err
				}
			}
			return e.withStore(true, func(ctx context.Context, s *session) error {
				if !force {
					own, lacking, err := ownKeys(ctx, s)
					if err != nil {
						return err
					}
					if len(own) > 0 {
						return withHint(fmt.Errorf("account %s already has the key %s", s.jid, own[0].Fingerprint),
							"use it ('ox key list'), or make another with 'ox key generate --force'")
					}
					if len(lacking) > 0 {
						f := lacking[0].Fingerprint
						return withHint(fmt.Errorf("you have the secret key %s, without the user ID %s", f, pgp.UserID(s.jid)),
							"to use it for "+s.jid.String()+", add the user ID with 'ox key add-uid "+f.String()+"'; to make a new key anyway, 'ox key generate --force'")
					}
				}
				if _, ok := s.backend.(pgp.PassphraseChanger); protect && !ok {
					return withHint(errors.New("--protect: with GnuPG the key's passphrase is gpg's own"), "leave out --protect: gpg asks for a passphrase through its pinentry")
				}
				k, err := s.backend.Generate(ctx, s.jid, pgp.GenerateOptions{Expiry: d, Passphrase: pass})
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, k.Fingerprint)
				writeRevocationCertificate(ctx, e, s, k) // keylife.go
				return nil
			})
		},
	})

	register(&command{
		name:    "key add-uid",
		args:    "[FINGERPRINT]",
		summary: "add the account's user ID xmpp:JID to your secret key (with GnuPG: gpg --quick-add-uid), so that OX can use it",
		examples: `  ox --account alice@example.org key add-uid 3EC1012940BF2505DE661858CE26F77F77D5678B
  ox --account alice@example.org key add-uid      # the one secret key that lacks it
  ox --account alice@example.org key publish      # then publish it
`,
		run: func(e *env, fs *flag.FlagSet) error {
			var f pgp.Fingerprint
			if fs.NArg() > 0 {
				// A fingerprint typed with spaces may come as several words.
				var err error
				if f, err = pgp.ParseFingerprint(strings.Join(fs.Args(), " ")); err != nil {
					return &usageError{err.Error()}
				}
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				if f.IsZero() {
					own, lacking, err := ownKeys(ctx, s)
					if err != nil {
						return err
					}
					switch {
					case len(lacking) == 1 && len(own) == 0:
						f = lacking[0].Fingerprint
					case len(lacking) == 0:
						return withHint(fmt.Errorf("none of your usable secret keys lacks the user ID %s", pgp.UserID(s.jid)), "list your keys with 'ox key list'")
					case len(own) > 0:
						return usagef("your key %s has the user ID %s already; to add it to another key, say which", own[0].Fingerprint, pgp.UserID(s.jid))
					default:
						return usagef("say which key: you have %d secret keys without the user ID %s ('ox key list')", len(lacking), pgp.UserID(s.jid))
					}
				}
				k, err := s.backend.Key(ctx, f)
				if errors.Is(err, pgp.ErrNotFound) {
					return withHint(fmt.Errorf("no key %s is stored", f), "list your keys with 'ox key list'")
				}
				if err != nil {
					return err
				}
				if !k.Secret {
					return withHint(fmt.Errorf("%s is a contact's certificate, not your key", f), "list your keys with 'ox key list'")
				}
				uid := pgp.UserID(s.jid)
				if k.HasUserID(s.jid) {
					fmt.Fprintf(e.stderr, "ox: key %s already has the user ID %s\n", f, uid)
					return nil
				}
				adder, ok := s.backend.(pgp.UserIDAdder)
				if !ok {
					return fmt.Errorf("this account's OpenPGP backend cannot add user IDs")
				}
				if err := adder.AddUserID(ctx, f, uid); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, f)
				fmt.Fprintf(e.stderr, "ox: key %s now has the user ID %s; publish it with 'ox key publish'\n", f, uid)
				return nil
			})
		},
	})

	var announced bool
	var listNet netFlags
	register(&command{
		name:    "key list",
		summary: "list the account's own keys; with --announced, every key the account announces over PEP (all devices)",
		examples: `  ox key list
  ox key list --announced
`,
		flags: func(fs *flag.FlagSet) {
			listNet.register(fs)
			fs.BoolVar(&announced, "announced", false, "list the keys the account's metadata node announces, with their dates and whether this device holds the secret")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if announced {
				return listAnnounced(e, &listNet) // keylife.go
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				ks, err := s.backend.SecretKeys(ctx)
				if err != nil {
					return err
				}
				for _, k := range ks {
					printKeyLine(e.stdout, &k, s.now())
				}
				return warnExpiring(ctx, e.stderr, s) // keylife.go
			})
		},
	})

	var armored, secret bool
	register(&command{
		name:    "key export",
		args:    "[FINGERPRINT]",
		summary: "write the account's public key (minimal: only its xmpp: user ID), or with --secret its secret key",
		examples: `  ox key export > alice.pgp
  ox key export --armor
  ox key export --secret --armor > alice-secret.asc    # protected if the key is ('ox key passwd')
`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&armored, "armor", false, "ASCII-armored output")
			fs.BoolVar(&secret, "secret", false, "export the secret key (as stored: protected by its passphrase, or not)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("key export takes at most one fingerprint")
			}
			if !armored && isTerminal(e.stdout) {
				return withHint(errors.New("refusing to write binary key data to a terminal"), "add --armor, or redirect the output to a file")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				k, err := ownKey(ctx, s, fs.Arg(0))
				if err != nil {
					return err
				}
				var data []byte
				typ := "PGP PUBLIC KEY BLOCK"
				if secret {
					data, err = s.backend.ExportSecret(ctx, k.Fingerprint)
					typ = "PGP PRIVATE KEY BLOCK"
				} else {
					j := s.jid
					data, err = s.backend.ExportPublic(ctx, k.Fingerprint, &j)
					if errors.Is(err, pgp.ErrUnsupportedKey) {
						err = withHint(err, "this key lacks the user ID "+pgp.UserID(s.jid)+", so contacts would not accept it")
					}
				}
				if err != nil {
					return err
				}
				if secret {
					if ok, _ := ox.SecretKeyProtected(data); !ok {
						fmt.Fprintf(e.stderr, "ox: warning: the secret key %s is written unprotected: anyone who reads the file can use it (protect it first with 'ox key passwd')\n", k.Fingerprint)
					}
				}
				return writeKey(e.stdout, data, armored, typ)
			})
		},
	})

	register(&command{
		name:    "key import",
		args:    "FILE",
		summary: "import your own secret key (binary or armored; - for standard input)",
		examples: `  ox --account alice@example.org key import alice-secret.asc
  gpg --export-secret-keys --armor xmpp:alice@example.org | ox --account alice@example.org key import -
`,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("key import takes one FILE (or - for standard input)")
			}
			data, err := e.readLimited(fs.Arg(0), limitKeys)
			if err != nil {
				return err
			}
			if !holdsSecretKey(data) {
				return withHint(errors.New(fs.Arg(0)+" holds no secret key"), "to add a contact's public key, use 'ox cert import FILE'")
			}
			return e.withStore(true, func(ctx context.Context, s *session) error {
				rep, err := s.ImportOwnKey(ctx, data)
				if rep == nil && err != nil {
					return withHint(err, "nothing was changed by the failed key")
				}
				for _, k := range rep.Keys {
					fmt.Fprintln(e.stdout, k.Fingerprint)
					if !k.HasUserID(s.jid) {
						fmt.Fprintf(e.stderr, "ox: warning: key %s has no user ID %s: contacts will refuse messages it signs\n", k.Fingerprint, pgp.UserID(s.jid))
					}
				}
				for _, f := range rep.Trusted {
					fmt.Fprintf(e.stderr, "ox: gave your key %s ultimate owner trust in GnuPG, as gpg does for a key it makes\n", f)
				}
				return err
			})
		},
	})
}

// ownKeys lists the account's own keys that are neither revoked nor
// expired: those that carry its user ID, and those that lack it (which ox
// does not use, but names, so that the user can add the user ID), newest
// first.
func ownKeys(ctx context.Context, s *session) (own, lacking []pgp.KeyInfo, err error) {
	ks, err := s.backend.SecretKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range ks {
		switch {
		case k.Revoked || k.Expired(s.now()):
		case k.HasUserID(s.jid):
			own = append(own, k)
		case k.CanSign(s.now()):
			lacking = append(lacking, k)
		}
	}
	return own, lacking, nil
}

// noUserID is the error for an account whose secret keys all lack its user
// ID: ox does not use them silently, and says how to add it.
func noUserID(s *session, lacking []pgp.KeyInfo) error {
	f := lacking[0].Fingerprint.String()
	what := "your secret key " + f + " lacks it"
	if len(lacking) > 1 {
		what = fmt.Sprintf("your %d secret keys (%s, ...) lack it", len(lacking), f)
	}
	return withHint(fmt.Errorf("account %s has no usable key with the user ID %s: %s", s.jid, pgp.UserID(s.jid), what),
		"add the user ID to your key with 'ox key add-uid "+f+"' (with GnuPG it runs gpg --quick-add-uid), or make a new key with 'ox key generate --force'")
}

// ownKey picks the own key named by a fingerprint, or the newest usable one.
func ownKey(ctx context.Context, s *session, arg string) (pgp.KeyInfo, error) {
	if arg != "" {
		f, err := pgp.ParseFingerprint(arg)
		if err != nil {
			return pgp.KeyInfo{}, &usageError{err.Error()}
		}
		k, err := s.backend.Key(ctx, f)
		if err != nil {
			return k, err
		}
		if !k.Secret {
			return k, withHint(fmt.Errorf("%s is a contact's certificate, not your key", f), "list your keys with 'ox key list'")
		}
		return k, nil
	}
	own, lacking, err := ownKeys(ctx, s)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	if len(own) == 0 && len(lacking) > 0 {
		return pgp.KeyInfo{}, noUserID(s, lacking)
	}
	if len(own) == 0 {
		return pgp.KeyInfo{}, withHint(fmt.Errorf("account %s has no usable key (none, or all expired or revoked)", s.jid),
			"make one with 'ox key generate' or import yours with 'ox key import FILE'")
	}
	return own[0], nil
}

func writeKey(w io.Writer, data []byte, armored bool, typ string) error {
	if !armored {
		_, err := w.Write(data)
		return err
	}
	aw, err := armor.Encode(w, typ, nil)
	if err != nil {
		return err
	}
	if _, err := aw.Write(data); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// holdsSecretKey sniffs whether key data starts with a secret key: an
// armored private key block, or a Secret-Key packet (tag 5).
func holdsSecretKey(data []byte) bool {
	t := bytes.TrimSpace(data)
	if bytes.HasPrefix(t, []byte("-----BEGIN PGP")) {
		return bytes.HasPrefix(t, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----"))
	}
	if len(data) == 0 || data[0]&0x80 == 0 {
		return false
	}
	tag := (data[0] >> 2) & 0x0f
	if data[0]&0x40 != 0 {
		tag = data[0] & 0x3f
	}
	return tag == 5
}

// printKeyLine prints one key as a line of a listing, with its validity in
// the user's GnuPG trust model where it has one.
func printKeyLine(w io.Writer, k *pgp.KeyInfo, now time.Time) {
	st := status(k, now)
	if k.Validity != "" {
		st += "  (GnuPG: " + k.Validity + ")"
	}
	if k.Protected {
		st += "  (passphrase)"
	}
	fmt.Fprintf(w, "%s  %-8s %s  %s  %s\n", k.Fingerprint, k.Algorithm, k.Created.Format("2006-01-02"), st, strings.Join(k.UserIDs, ", "))
}

func status(k *pgp.KeyInfo, now time.Time) string {
	switch {
	case k.Revoked:
		return "revoked (" + k.RevocationReason.String() + ")"
	case k.Expired(now):
		return "expired " + k.Expires.Format("2006-01-02")
	case !k.CanEncrypt(now):
		return "no-encryption"
	case k.Expires.IsZero():
		return "expires never"
	}
	return "expires " + k.Expires.Format("2006-01-02")
}
