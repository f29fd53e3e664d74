package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
	"rsc.io/qr"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/trust"
)

// offlineClient is the account's ox.Client, without a session: trust
// decisions need no server.
func offlineClient(s *session) *ox.Client { return s.Client }

func init() {
	register(&command{
		name:    "trust list",
		args:    "[JID]",
		summary: "list the trust in contacts' keys (of one contact, or all), then their history",
		examples: `  ox trust list
  ox trust list bob@example.org
`,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("trust list takes at most one JID")
			}
			var who jid.JID
			if fs.NArg() == 1 {
				j, err := parseAccount(fs.Arg(0))
				if err != nil {
					return &usageError{err.Error()}
				}
				who = j
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				recs, err := s.TrustRecords(ctx, who)
				if err != nil {
					return err
				}
				for _, r := range recs {
					fmt.Fprintf(e.stdout, "%s  %s  %-9s since %s  %s\n", r.JID, r.Fingerprint, r.State, r.Since.Format(time.RFC3339), r.Reason)
				}
				log, err := s.TrustHistory(ctx, who)
				if err != nil {
					return err
				}
				if len(log) > 0 {
					fmt.Fprintln(e.stdout, "\nhistory:")
				}
				for _, ev := range log {
					fmt.Fprintf(e.stdout, "%s  %s  %s  %s  %s\n", ev.At.Format(time.RFC3339), ev.JID, ev.Fingerprint, ev.What, ev.Reason)
				}
				return nil
			})
		},
	})

	var png string
	register(&command{
		name:    "trust show",
		args:    "JID",
		summary: "show a contact's (or your own) fingerprints in groups of four, with OPENPGP4FPR QR codes to compare",
		examples: `  ox trust show bob@example.org
  ox trust show alice@example.org --png alice.png     # your own, as an image
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&png, "png", "", "also write the (first) QR code as a PNG image to `FILE`")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 1 {
				return usagef("trust show takes one JID")
			}
			j, err := parseAccount(fs.Arg(0))
			if err != nil {
				return &usageError{err.Error()}
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				ks, err := s.backend.Lookup(ctx, j)
				if err != nil {
					return err
				}
				if len(ks) == 0 {
					return withHint(fmt.Errorf("no key with the user ID %s is stored", pgp.UserID(j)), "fetch it with 'ox cert fetch "+j.String()+"'")
				}
				c := offlineClient(s)
				for i, k := range ks {
					state := "own key"
					if !k.Secret {
						st, err := c.TrustState(ctx, j, k.Fingerprint)
						if err != nil {
							return err
						}
						state = "trust: " + st.String()
					}
					if k.Validity != "" {
						state += ", GnuPG validity: " + k.Validity
					}
					fmt.Fprintf(e.stdout, "%s  (%s)\n", k.Fingerprint.Grouped(), state)
					uri := "OPENPGP4FPR:" + k.Fingerprint.String()
					code, err := qr.Encode(uri, qr.M)
					if err != nil {
						return err
					}
					writeQR(e.stdout, code)
					fmt.Fprintln(e.stdout, uri)
					if png != "" && i == 0 {
						if err := os.WriteFile(png, code.PNG(), 0o644); err != nil {
							return err
						}
					}
				}
				return nil
			})
		},
	})

	for _, v := range []struct {
		name  string
		state trust.State
		what  string
	}{
		{"verify", trust.Verified, "mark a contact's key as verified, after comparing its fingerprint with theirs (exactly; spaces allowed)"},
		{"reject", trust.Rejected, "reject a contact's key: never encrypt to it, refuse what it signs"},
		{"undecide", trust.Undecided, "take back a decision: the key is undecided again (with GnuPG, its validity in GnuPG decides again)"},
	} {
		v := v
		register(&command{
			name:    "trust " + v.name,
			args:    "JID FINGERPRINT",
			summary: v.what,
			examples: fmt.Sprintf(`  ox trust %s bob@example.org "3EC1 0129 40BF 2505 DE66  1858 CE26 F77F 77D5 678B"
`, v.name),
			run: func(e *env, fs *flag.FlagSet) error {
				if fs.NArg() < 2 {
					return usagef("trust %s takes a JID and a fingerprint", v.name)
				}
				j, err := parseAccount(fs.Arg(0))
				if err != nil {
					return &usageError{err.Error()}
				}
				// A fingerprint typed with spaces may come as several words.
				f, err := pgp.ParseFingerprint(strings.Join(fs.Args()[1:], " "))
				if err != nil {
					return &usageError{err.Error()}
				}
				return e.withStore(false, func(ctx context.Context, s *session) error {
					if err := setTrust(ctx, s, j, f, v.state); err != nil {
						return err
					}
					fmt.Fprintf(e.stderr, "ox: %s's key %s is now %s\n", j, f, v.state)
					return nil
				})
			},
		})
	}

	register(&command{
		name:    "trust policy",
		args:    "[JID] [btbv|tofu|manual|blind|default]",
		summary: "show or set the trust policy, for the account or one contact",
		examples: `  ox trust policy                         # the account's policy
  ox trust policy tofu                    # set the account's policy
  ox trust policy bob@example.org manual  # only verified keys of bob
  ox trust policy bob@example.org default # bob follows the account's policy again
`,
		run: func(e *env, fs *flag.FlagSet) error {
			var who jid.JID
			args := fs.Args()
			if len(args) > 0 && strings.Contains(args[0], "@") {
				j, err := parseAccount(args[0])
				if err != nil {
					return &usageError{err.Error()}
				}
				who, args = j, args[1:]
			}
			if len(args) > 1 {
				return usagef("trust policy takes at most a JID and a policy")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				c := offlineClient(s)
				if len(args) == 1 {
					p := trust.Policy("")
					if args[0] != "default" {
						var err error
						if p, err = trust.ParsePolicy(args[0]); err != nil {
							return &usageError{err.Error()}
						}
					}
					if err := c.SetPolicy(ctx, who, p); err != nil {
						return err
					}
				}
				p, err := c.Policy(ctx, who)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, p)
				return nil
			})
		},
	})
}

// writeQR draws a QR code in the terminal with half blocks, two rows per
// line, with the quiet zone the standard asks for.
func writeQR(w io.Writer, c *qr.Code) {
	const quiet = 2
	for y := -quiet; y < c.Size+quiet; y += 2 {
		var b strings.Builder
		for x := -quiet; x < c.Size+quiet; x++ {
			top, bottom := c.Black(x, y), c.Black(x, y+1)
			switch {
			case top && bottom:
				b.WriteString(" ")
			case top:
				b.WriteString("▄")
			case bottom:
				b.WriteString("▀")
			default:
				b.WriteString("█")
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// setTrust records the user's decision on j's key f: ox trust verify,
// reject, undecide and the daemon's trustVerify and trustReject.
func setTrust(ctx context.Context, s *session, j jid.JID, f pgp.Fingerprint, state trust.State) error {
	k, err := s.backend.Key(ctx, f)
	if errors.Is(err, pgp.ErrNotFound) {
		return withHint(&notFound{fmt.Sprintf("no key %s is stored: the fingerprint does not match any key you have", f)}, "check the fingerprint, or fetch the contact's keys with 'ox cert fetch "+j.String()+"'")
	}
	if err != nil {
		return err
	}
	if !k.HasUserID(j) {
		return fmt.Errorf("key %s does not carry the user ID %s, so it is not %s's key", f, pgp.UserID(j), j)
	}
	return offlineClient(s).SetTrust(ctx, j, f, state, ox.ReasonByUser)
}

// notFound says what was not found; it matches pgp.ErrNotFound (the
// daemon's code for it).
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == pgp.ErrNotFound }
