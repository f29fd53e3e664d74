package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/backup"
	"codeberg.org/ox/ox/pgp"
)

// The secret-key backup (XEP-0373 §5): on the server (push, restore) or
// in a file kept elsewhere (export, restore --file, check).
func init() {
	var pushNet netFlags
	var replace bool
	register(&command{
		name:    "backup push",
		args:    "[FINGERPRINT]",
		summary: "encrypt the secret key with a new backup code and store it on the server (XEP-0373 §5); print the code once",
		examples: `  ox backup push > code.txt    # keep the code safe: it is shown once and opens the backup
`,
		flags: func(fs *flag.FlagSet) {
			pushNet.register(fs)
			fs.BoolVar(&replace, "replace", false, "replace a backup already stored (it may hold another device's key)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("backup push takes at most one fingerprint")
			}
			o, err := e.connect(e.ctx, &pushNet, false)
			if err != nil {
				return err
			}
			defer o.Close()
			ctx := o.ctx
			k, err := ownKey(ctx, o.session, fs.Arg(0))
			if err != nil {
				return err
			}
			code, err := o.client.BackupPush(ctx, k.Fingerprint, replace)
			if errors.Is(err, ox.ErrBackupExists) {
				return withHint(err, "restore it first ('ox backup restore' on a fresh home), or replace it with 'ox backup push --replace'")
			}
			if err != nil {
				return pepHint(err)
			}
			printCode(e, code)
			return nil
		},
	})

	var exportFile string
	register(&command{
		name:    "backup export",
		args:    "--file FILE [FINGERPRINT]",
		summary: "write the secret key backup, encrypted with a new backup code, to a file (the XEP-0373 §5 format, which gpg --decrypt opens); print the code once",
		examples: `  ox backup export --file alice.backup > code.txt
  gpg --decrypt alice.backup   # asks for the code as the passphrase
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&exportFile, "file", "", "write the backup to `FILE` (it must not exist)")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 1 {
				return usagef("backup export takes at most one fingerprint")
			}
			if exportFile == "" || exportFile == "-" {
				return usagef("backup export needs --file FILE (standard output is for the code)")
			}
			return e.withStore(false, func(ctx context.Context, s *session) error {
				k, err := ownKey(ctx, s, fs.Arg(0))
				if err != nil {
					return err
				}
				data, code, err := ox.ExportBackup(ctx, s.backend, k.Fingerprint)
				if err != nil {
					return err
				}
				// A new file only: an existing backup is never overwritten.
				f, err := os.OpenFile(exportFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return withHint(err, "give a new file name; ox does not replace a file")
				}
				_, err = f.Write(data)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(exportFile)
					return err
				}
				printCode(e, code)
				return nil
			})
		},
	})

	var restoreNet netFlags
	var restoreFile string
	register(&command{
		name:    "backup restore",
		summary: "open the secret key backup (from the server, or --file) with the backup code (prompt, or env OX_BACKUP_CODE) and import its keys",
		examples: `  ox --home ~/laptop --account alice@example.org backup restore
  OX_BACKUP_CODE=… ox --account alice@example.org backup restore
  ox --account alice@example.org backup restore --file alice.backup   # offline
`,
		flags: func(fs *flag.FlagSet) {
			restoreNet.register(fs)
			fs.StringVar(&restoreFile, "file", "", "restore from the backup in `FILE` (offline) instead of the server's")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("backup restore takes no arguments")
			}
			var data []byte
			if restoreFile != "" {
				var err error
				if data, err = readBackupFile(restoreFile); err != nil {
					return err
				}
			}
			code, err := e.backupCode()
			if err != nil {
				return err
			}
			var ks []pgp.KeyInfo
			var who jid.JID
			if restoreFile != "" {
				// Open it first: a wrong code makes no account.
				var b *ox.OpenedBackup
				if b, err = ox.OpenBackup(data, code); err == nil {
					err = e.withStore(true, func(ctx context.Context, s *session) error {
						who = s.jid
						ks, err = b.Import(ctx, s.backend)
						return err
					})
				}
			} else {
				var o *online
				if o, err = e.connect(e.ctx, &restoreNet, true); err != nil {
					return err
				}
				defer o.Close()
				who = o.jid
				ks, err = o.client.BackupRestore(o.ctx, code)
			}
			switch {
			case errors.Is(err, backup.ErrWrongCode):
				return withHint(err, "check the code; nothing was changed")
			case errors.Is(err, ox.ErrNoBackup):
				return withHint(err, "push one from a device that has the key: 'ox backup push'")
			case err != nil:
				return withHint(err, "nothing was changed")
			}
			for _, k := range ks {
				fmt.Fprintln(e.stdout, k.Fingerprint)
				if !k.HasUserID(who) {
					fmt.Fprintf(e.stderr, "ox: warning: the restored key %s has no user ID %s\n", k.Fingerprint, pgp.UserID(who))
				}
			}
			return nil
		},
	})

	var checkFile string
	register(&command{
		name:    "backup check",
		args:    "--file FILE",
		summary: "open a backup file with its code (prompt, or env OX_BACKUP_CODE) and list the keys it holds; import nothing",
		examples: `  ox backup check --file alice.backup   # needs no account
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&checkFile, "file", "", "the backup `FILE`")
		},
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("backup check takes no arguments")
			}
			if checkFile == "" {
				return usagef("backup check needs --file FILE")
			}
			data, err := readBackupFile(checkFile)
			if err != nil {
				return err
			}
			code, err := e.backupCode()
			if err != nil {
				return err
			}
			b, err := ox.OpenBackup(data, code)
			if errors.Is(err, backup.ErrWrongCode) {
				return withHint(err, "check the code")
			}
			if err != nil {
				return err
			}
			ks, err := b.Describe(e.ctx, clock) // opens and makes nothing of any account
			if err != nil {
				return err
			}
			for _, k := range ks {
				fmt.Fprintf(e.stdout, "%s  %s  %s\n", k.Fingerprint, secretOrPublic(k), strings.Join(k.UserIDs, ", "))
			}
			fmt.Fprintf(e.stderr, "ox: the code opens the backup; it holds %d key(s); nothing was imported\n", len(ks))
			return nil
		},
	})
}

func secretOrPublic(k pgp.KeyInfo) string {
	if k.Secret {
		return "secret"
	}
	return "public only"
}

// printCode shows a new backup code, once.
func printCode(e *env, code backup.Code) {
	fmt.Fprintln(e.stdout, code)
	fmt.Fprintln(e.stderr, "ox: warning: write this backup code down and keep it safe: it is shown only once, and anyone with it and the backup (on your account, or the file) can read your secret key")
}

// backupCode is the code from OX_BACKUP_CODE or asked on the terminal.
func (e *env) backupCode() (backup.Code, error) {
	raw := e.getenv("OX_BACKUP_CODE")
	if raw == "" {
		var err error
		if raw, err = e.prompt("backup code"); err != nil {
			return "", err
		}
	}
	code, err := backup.ParseCode(raw)
	if err != nil {
		return "", withHint(err, "the code is 24 characters of 1-9 and A-Z (no 0 or O), in six groups of four")
	}
	return code, nil
}

func readBackupFile(name string) ([]byte, error) {
	// A backup is a few kilobytes; backup.Decrypt refuses more than it
	// reads, so the limit here only keeps a wrong file from filling memory.
	const limit = 16 << 20
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes: too large for a backup", name, st.Size())
	}
	return os.ReadFile(name)
}
