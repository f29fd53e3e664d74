package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// Passphrases of the account's protected secret keys (native backend):
// OX_KEY_PASSPHRASE, the account's saved passphrase command, or a prompt
// on the terminal, as the account password comes (net.go); never from
// the command line.

// passphraseFunc is where the native backend gets the passphrases of
// account j's protected keys.
func (e *env) passphraseFunc(j jid.JID) func(context.Context, pgp.Fingerprint) ([]byte, error) {
	return func(ctx context.Context, fpr pgp.Fingerprint) ([]byte, error) {
		return e.keyPassphrase(ctx, j, fpr)
	}
}

// keyPassphrase is the passphrase that unlocks the key fpr of account j.
func (e *env) keyPassphrase(ctx context.Context, j jid.JID, fpr pgp.Fingerprint) ([]byte, error) {
	if p := e.getenv("OX_KEY_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if cfg, _, err := e.loadConfig(); err == nil {
		if ac := cfg.find(j.String()); ac != nil && ac.KeyPassphraseCommand != "" {
			return runPassphraseCommand(ctx, ac.KeyPassphraseCommand)
		}
	}
	if !hasTerminal() {
		return nil, pgp.ErrKeyLocked
	}
	p, err := e.prompt("passphrase of your key " + fpr.String())
	return []byte(p), err
}

func runPassphraseCommand(ctx context.Context, command string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "sh", "-c", command).Output()
	if err != nil {
		return nil, fmt.Errorf("the key passphrase command failed: %v", err)
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	return bytes.TrimRight(line, "\r"), nil
}

func hasTerminal() bool {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	tty.Close()
	return true
}

// newPassphrase is a new passphrase for a key: from the environment
// variable env, or typed twice on the terminal.
func (e *env) newPassphrase(env string) ([]byte, error) {
	if p := e.getenv(env); p != "" {
		return []byte(p), nil
	}
	if !hasTerminal() {
		return nil, withHint(errors.New("no new passphrase and no terminal to ask for it"), "set "+env)
	}
	p, err := e.prompt("new passphrase")
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, usagef("the passphrase is empty; to remove the protection, use 'ox key passwd --remove'")
	}
	again, err := e.prompt("repeat the new passphrase")
	if err != nil {
		return nil, err
	}
	if again != p {
		return nil, errors.New("the two passphrases differ; nothing was changed")
	}
	return []byte(p), nil
}

func init() {
	var remove bool
	var passCommand string
	register(&command{
		name:    "key passwd",
		args:    "[FINGERPRINT]",
		summary: "protect your secret key with a passphrase, change it or remove it",
		examples: `  OX_KEY_NEW_PASSPHRASE=... ox key passwd             # or asked twice on the terminal
  ox key passwd --remove                               # store the key unprotected again
  ox key passwd --command 'pass show ox/alice'         # the passphrase from then on
`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&remove, "remove", false, "remove the passphrase: the key is stored unprotected (file mode 0600 only)")
			fs.StringVar(&passCommand, "command", "", "save a shell `COMMAND` that prints the key's passphrase (instead of OX_KEY_PASSPHRASE or a prompt); --command '' removes it")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("key passwd takes at most one fingerprint")
			}
			commandSet := false
			fs.Visit(func(f *flag.Flag) { commandSet = commandSet || f.Name == "command" })
			if commandSet {
				if remove || fs.NArg() > 0 {
					return usagef("--command only saves the passphrase command; change the passphrase in a second run")
				}
				return e.saveKeyPassphraseCommand(passCommand)
			}
			var pass []byte
			if !remove {
				var err error
				if pass, err = e.newPassphrase("OX_KEY_NEW_PASSPHRASE"); err != nil {
					return err
				}
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				k, err := ownKey(ctx, s, fs.Arg(0))
				if err != nil {
					return err
				}
				ch, ok := s.backend.(pgp.PassphraseChanger)
				if !ok {
					return withHint(errors.New("this account's OpenPGP backend keeps the keys' passphrases itself"), "with GnuPG, run 'gpg --passwd "+k.Fingerprint.String()+"'")
				}
				if err := ch.ChangePassphrase(ctx, k.Fingerprint, pass); err != nil {
					return err
				}
				if remove {
					fmt.Fprintf(e.stderr, "ox: key %s is stored unprotected now (file mode 0600 only)\n", k.Fingerprint)
				} else {
					fmt.Fprintf(e.stderr, "ox: key %s is protected by the new passphrase\n", k.Fingerprint)
				}
				return nil
			})
		},
	})
}

// saveKeyPassphraseCommand saves (or, empty, removes) the account's key
// passphrase command.
func (e *env) saveKeyPassphraseCommand(command string) error {
	j, _, err := e.whichAccount()
	if err != nil {
		return err
	}
	cfg, path, err := e.loadConfig()
	if err != nil {
		return err
	}
	ac := cfg.find(j.String())
	if ac == nil {
		cfg.Accounts = append(cfg.Accounts, accountConfig{JID: j.String()})
		ac = &cfg.Accounts[len(cfg.Accounts)-1]
	}
	ac.KeyPassphraseCommand = strings.TrimSpace(command)
	return saveConfig(path, cfg)
}
