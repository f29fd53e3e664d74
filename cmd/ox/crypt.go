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

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
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
				// The same key resolution as 'ox send' (announced, usable,
				// trusted), from what is stored, and to self too
				// (XEP-0373 §3.1).
				el, rep, err := s.Encrypt(ctx, to, string(text))
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", el)
				warnLeftOut(e.stderr, rep)
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
			fs.DurationVar(&window, "window", ox.DefaultWindow, "how far time stamps may be off")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("decrypt reads standard input and takes no arguments")
			}
			data, err := e.readLimited("-", limitStanza)
			if err != nil {
				return err
			}
			var o ox.DecryptOptions
			if from != "" {
				if o.From, err = parseAccount(from); err != nil {
					return &usageError{"--from: " + err.Error()}
				}
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return &usageError{"--at: want a time like 2026-11-26T11:29:33Z: " + err.Error()}
				}
				o.At = t
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				s.Window = window
				m, err := s.Decrypt(ctx, data, o)
				switch {
				case errors.Is(err, ox.ErrNoSender):
					return usagef("who sent it? give --from JID (the input has no from attribute)")
				case errors.Is(err, ox.ErrNotOX):
					return errors.New("the input holds no <openpgp/> element: it is not an OX message")
				case err != nil:
					return withHint(err, "give an <openpgp xmlns='urn:xmpp:openpgp:0'> element or a <message/> stanza holding one")
				case m.Err != nil:
					return receiveHint(m.Err, m.From.Bare())
				}
				fmt.Fprint(e.stdout, m.Body)
				if !strings.HasSuffix(m.Body, "\n") {
					fmt.Fprintln(e.stdout)
				}
				fmt.Fprintf(e.stderr, "ox: good signature from %s, key %s, signed %s\n", m.From.Bare(), m.Signer, m.SignedAt.UTC().Format(time.RFC3339))
				for _, w := range m.Warnings {
					fmt.Fprintf(e.stderr, "ox: warning: %s\n", w)
				}
				return nil
			})
		},
	})
}

// warnLeftOut names the recipients' keys a message was not encrypted to.
func warnLeftOut(w io.Writer, rep *ox.SendReport) {
	for _, f := range rep.Undecided {
		fmt.Fprintf(w, "ox: warning: key %s is undecided, so that device cannot read it; compare fingerprints and run 'ox trust verify JID %s'\n", f, f)
	}
	for _, f := range rep.Unannounced {
		fmt.Fprintf(w, "ox: warning: key %s is stored but not announced by its owner, so it was not encrypted to\n", f)
	}
}

// receiveHint says what to do about a refused message.
func receiveHint(err error, sender jid.JID) error {
	if h := openHint(err, sender); h != err {
		return h
	}
	return checkHint(err, sender)
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
	var se *ox.SignatureError
	var pse *pgp.SignatureError
	if errors.As(err, &se) && errors.As(err, &pse) && pse.Unknown {
		return withHint(err, "import "+sender.String()+"'s key with 'ox cert import FILE' and try again")
	}
	var sm *ox.SignerMismatchError
	if errors.As(err, &sm) {
		return withHint(err, "the message is not from "+sender.String()+"; do not trust it")
	}
	var te *ox.TimeError
	if errors.As(err, &te) {
		return withHint(err, "if it is an old message, give its arrival time with --at")
	}
	return err
}
