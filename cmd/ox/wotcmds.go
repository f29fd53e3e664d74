package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/wot"
)

// The web of trust over XMPP: certify a contact's key and send them the
// certification; see, accept and decline the certifications contacts sent.

func init() {
	var certifyNet netFlags
	register(&command{
		name:    "trust certify",
		args:    "JID FINGERPRINT",
		summary: "certify a contact's key after comparing its fingerprint, and send them the certification (the web of trust)",
		examples: `  ox trust certify bob@example.org "3EC1 0129 40BF 2505 DE66  1858 CE26 F77F 77D5 678B"
`,
		flags: certifyNet.register,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() < 2 {
				return usagef("trust certify takes a JID and a fingerprint")
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
			o, err := e.connect(e.ctx, &certifyNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			ctx := o.ctx
			o.client.MaxKeyAge = -1 // a one-shot command: read the contact's announcements now
			rep, err := o.wot.Certify(ctx, j, f)
			if rep != nil {
				fmt.Fprintln(e.stdout, rep.Target)
				v := ""
				if rep.Validity != "" {
					v = " (validity in your GnuPG: " + rep.Validity + ")"
				}
				fmt.Fprintf(e.stderr, "ox: certified %s of key %s with your key %s; the key is now %s%s\n", rep.UserID, rep.Target, rep.Signer, rep.Trust, v)
			}
			if errors.Is(err, pgp.ErrNotFound) {
				return withHint(err, "compare the fingerprint with "+j.String()+" again; 'ox cert fetch "+j.String()+"' shows the keys they publish")
			}
			var nk *ox.NoUsableKeyError
			if errors.As(err, &nk) {
				return withHint(err, "the certification is made but not sent; run the command again once "+j.String()+" publishes a usable key")
			}
			if err != nil {
				return pepHint(err)
			}
			fmt.Fprintf(e.stderr, "ox: sent the certification to %s, encrypted to %d of their key(s)\n", j, len(rep.Sent.Recipients))
			return nil
		},
	})

	register(&command{
		name:    "trust certifications",
		summary: "list the certifications of your keys that contacts sent, and what you made of them",
		examples: `  ox trust certifications
`,
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("trust certifications takes no arguments")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				offers, err := wot.New(s.Client).Certifications(ctx)
				if err != nil {
					return err
				}
				for _, o := range offers {
					fmt.Fprintf(e.stdout, "%d  %-8s  %s  from %s  certifier %s (trust: %s)  your key %s\n",
						o.ID, o.State, o.Received.Format(time.RFC3339), o.From, o.Certifier, o.Trust, o.Target)
				}
				return nil
			})
		},
	})

	register(&command{
		name:    "trust accept-certification",
		args:    "ID",
		summary: "merge a contact's certification into your key (publish it with 'ox key publish --with-certifications')",
		examples: `  ox trust accept-certification 1
`,
		run: func(e *env, fs *flag.FlagSet) error {
			id, err := certificationID(fs)
			if err != nil {
				return err
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				o, err := wot.New(s.Client).AcceptCertification(ctx, id)
				if errors.Is(err, ox.ErrNotFound) {
					return withHint(fmt.Errorf("no certification %d", id), "see 'ox trust certifications'")
				}
				var ce *wot.CertificationError
				if errors.As(err, &ce) {
					return withHint(err, "nothing was merged; decline it with 'ox trust decline-certification "+strconv.FormatInt(id, 10)+"'")
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "ox: merged %s's certification of %s into your key %s; publish it with 'ox key publish --with-certifications'\n",
					o.From, strings.Join(o.UserIDs, ", "), o.Target)
				return nil
			})
		},
	})

	register(&command{
		name:    "trust decline-certification",
		args:    "ID",
		summary: "decline a contact's certification: it is not merged, nor published",
		examples: `  ox trust decline-certification 2
`,
		run: func(e *env, fs *flag.FlagSet) error {
			id, err := certificationID(fs)
			if err != nil {
				return err
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				if err := wot.New(s.Client).DeclineCertification(ctx, id); errors.Is(err, ox.ErrNotFound) {
					return withHint(fmt.Errorf("no certification %d", id), "see 'ox trust certifications'")
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "ox: declined certification %d\n", id)
				return nil
			})
		},
	})
}

func certificationID(fs *flag.FlagSet) (int64, error) {
	if fs.NArg() != 1 {
		return 0, usagef("give the certification's ID (see 'ox trust certifications')")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not a certification ID (see 'ox trust certifications')", fs.Arg(0))
	}
	return id, nil
}

// showCertification is a line of 'ox cert show': who certified which user
// ID, and whether that could be checked.
func showCertification(w io.Writer, c pgp.Certification) {
	by := "key ID " + pgp.KeyIDString(c.IssuerKeyID)
	if !c.Issuer.IsZero() {
		by = c.Issuer.String()
	}
	note := "verified"
	if !c.Verified {
		note = "not verified: the certifier's key is not stored, or the signature is bad"
	}
	fmt.Fprintf(w, "%-12s %s by %s on %s (%s)\n", "certified", c.UserID, by, c.Created.UTC().Format(time.RFC3339), note)
}
