package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func init() {
	var recipients listFlag
	register(&command{
		name:    "encrypt",
		summary: "read message text on standard input; write the <openpgp/> element of a <signcrypt/> to the recipients",
		examples: `  echo 'hello bob' | ox encrypt -r bob@example.org
  ox encrypt -r bob@example.org -r carol@example.org < message.txt > openpgp.xml
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&recipients, "r", "recipient `JID` (repeat for several)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if len(recipients) == 0 {
				return usagef("encrypt needs at least one recipient: -r JID")
			}
			if fs.NArg() != 0 {
				return usagef("encrypt reads the message on standard input and takes no arguments")
			}
			var to []jid.JID
			for _, r := range recipients {
				j, err := parseAccount(r)
				if err != nil {
					return &usageError{"-r: " + err.Error()}
				}
				to = append(to, j)
			}
			text, err := e.readInput("-")
			if err != nil {
				return err
			}
			// One trailing newline is the shell's, not the message's.
			text = bytes.TrimSuffix(bytes.TrimSuffix(text, []byte("\n")), []byte("\r"))
			return e.withStore(false, func(ctx context.Context, s *session) error {
				signer, err := ownKey(ctx, s, "")
				if err != nil {
					return err
				}
				var fprs []pgp.Fingerprint
				for _, j := range to {
					ks, err := recipientKeys(ctx, s, j)
					if err != nil {
						return err
					}
					fprs = append(fprs, ks...)
				}
				// Always to self too (XEP-0373 §3.1), so our other devices and
				// the archive can read what we sent.
				self, err := usableOwnKeys(ctx, s)
				if err != nil {
					return err
				}
				for _, k := range self {
					if k.Usable(s.now()) == nil {
						fprs = append(fprs, k.Fingerprint)
					}
				}
				c, err := element.NewContent(element.KindSigncrypt, to, s.now(), element.BodyPayload(string(text)))
				if err != nil {
					return err
				}
				plain, err := c.Marshal()
				if err != nil {
					return err
				}
				ct, err := s.backend.Seal(ctx, plain, pgp.SealOptions{Signer: signer.Fingerprint, Recipients: fprs})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", element.MarshalOpenPGP(ct))
				return nil
			})
		},
	})

	var from, at string
	var window time.Duration
	register(&command{
		name:    "decrypt",
		summary: "read an <openpgp/> element or a whole <message/> on standard input, make every receiver check, write the body",
		examples: `  ox decrypt --from alice@example.org < openpgp.xml
  ox decrypt < message.xml                  # the sender is the message's from
  ox decrypt --from alice@example.org --at 2026-11-26T11:29:33Z < old-message.xml
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the sender's `JID` (default: the message's from attribute)")
			fs.StringVar(&at, "at", "", "judge times as if the message arrived at `TIME` (XEP-0082; default: its delay stamp, or now)")
			fs.DurationVar(&window, "window", check.DefaultWindow, "how far time stamps may be off")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("decrypt reads standard input and takes no arguments")
			}
			data, err := e.readLimited("-", limitStanza)
			if err != nil {
				return err
			}
			m, err := element.ParseMessage(data)
			if err != nil {
				return withHint(err, "give an <openpgp xmlns='urn:xmpp:openpgp:0'> element or a <message/> stanza holding one")
			}
			if len(m.OpenPGP) == 0 {
				return errors.New("the input holds no <openpgp/> element: it is not an OX message")
			}
			var sender jid.JID
			switch {
			case from != "":
				if sender, err = parseAccount(from); err != nil {
					return &usageError{"--from: " + err.Error()}
				}
			case m.FromRaw != "" && m.From.Localpart() != "":
				sender = m.From.Bare()
			default:
				return usagef("who sent it? give --from JID (the input has no from attribute)")
			}
			delivered := time.Now()
			if !m.Delay.IsZero() {
				delivered = m.Delay
			}
			if at != "" {
				t, err := element.ParseTime(at)
				if err != nil {
					return &usageError{"--at: " + err.Error()}
				}
				delivered = t
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				o, err := s.backend.Open(ctx, m.OpenPGP)
				if err != nil {
					return openHint(err, sender)
				}
				v, err := check.Message(check.Input{Opened: o, Sender: sender, Recipient: s.jid, Delivered: delivered}, check.Options{Window: window})
				if err != nil {
					return checkHint(err, sender)
				}
				body, _ := v.Content.Body()
				fmt.Fprint(e.stdout, body)
				if !strings.HasSuffix(body, "\n") {
					fmt.Fprintln(e.stdout)
				}
				fmt.Fprintf(e.stderr, "ox: good signature from %s, key %s, signed %s\n", sender, v.Signer.Fingerprint, v.SignatureTime.Format(time.RFC3339))
				for _, w := range v.Warnings {
					fmt.Fprintf(e.stderr, "ox: warning: %s\n", w)
				}
				return nil
			})
		},
	})
}

// recipientKeys returns a contact's usable keys, or an error that names
// what is missing: no key at all, or each key's reason.
func recipientKeys(ctx context.Context, s *session, j jid.JID) ([]pgp.Fingerprint, error) {
	ks, err := s.backend.Lookup(ctx, j)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, withHint(fmt.Errorf("no key for %s: no certificate with the user ID %s is stored", j, pgp.UserID(j)),
			"import the contact's key with 'ox cert import FILE'")
	}
	var out []pgp.Fingerprint
	var why []string
	for _, k := range ks {
		if err := k.Usable(s.now()); err != nil {
			var ue *pgp.KeyUnusableError
			if errors.As(err, &ue) {
				why = append(why, strings.TrimPrefix(ue.Error(), "pgp: "))
			}
			continue
		}
		out = append(out, k.Fingerprint)
	}
	if len(out) == 0 {
		return nil, withHint(fmt.Errorf("no usable key for %s: %s", j, strings.Join(why, "; ")),
			"ask "+j.String()+" for a current key and import it with 'ox cert import FILE'")
	}
	return out, nil
}

func openHint(err error, sender jid.JID) error {
	var nd *pgp.NoDecryptionKeyError
	switch {
	case errors.As(err, &nd):
		return withHint(err, "it was encrypted for someone else, or for a key of yours that this home does not hold")
	case errors.Is(err, pgp.ErrTampered):
		return withHint(err, "do not trust it; ask "+sender.String()+" to send it again")
	case errors.Is(err, pgp.ErrMalformed):
		return withHint(err, "the <openpgp/> element does not hold an OpenPGP message")
	}
	return err
}

func checkHint(err error, sender jid.JID) error {
	var se *check.SignatureError
	var pse *pgp.SignatureError
	if errors.As(err, &se) && errors.As(err, &pse) && pse.Unknown {
		return withHint(err, "import "+sender.String()+"'s key with 'ox cert import FILE' and try again")
	}
	var sm *check.SignerMismatchError
	if errors.As(err, &sm) {
		return withHint(err, "the message is not from "+sender.String()+"; do not trust it")
	}
	var te *check.TimeError
	if errors.As(err, &te) {
		return withHint(err, "if it is an old message, give its arrival time with --at")
	}
	return err
}
