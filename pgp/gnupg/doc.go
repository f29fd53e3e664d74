// Package gnupg is ox's GnuPG backend: a pgp.Backend that drives the gpg
// binary (GnuPG 2.2.9 or later) over the user's GnuPG home, so that the keys
// a GnuPG user already has, with their passphrases, gpg-agent and
// smartcards, work for OX.
//
// # Machine interfaces only
//
// ox talks to gpg as GPGME does: every run has --batch --no-tty
// --with-colons --status-fd, and ox reads only the status lines, the colon
// listings and the data gpg writes; gpg's messages for people are never
// parsed (the last one is shown in an *Error's Detail). The options of
// gpg.conf that would change what ox asked for are switched off per run
// (--no-armor, --no-encrypt-to, --no-throw-keyids, --no-auto-key-retrieve,
// ...). Every operation maps gpg's status lines to the pgp package's typed
// errors; see Open and Seal for the lines read.
//
// # Secrets stay in gpg-agent
//
// ox never reads secret key material: gpg signs and decrypts, and gpg-agent
// (or the smartcard) holds the keys. The one exception is ExportSecret, for
// the XEP-0373 §5 backup, which runs gpg --export-secret-keys.
//
// # Passphrases
//
// Keys that Generate makes have no passphrase (--pinentry-mode loopback
// --passphrase ""), as the IM context wants. Keys with a passphrase work
// through gpg-agent: it asks with its pinentry when the passphrase is not
// cached (in a terminal, export GPG_TTY=$(tty)), or uses a cached or preset
// one (gpg-preset-passphrase, with allow-preset-passphrase in
// gpg-agent.conf; the tests do this). Options.NoPinentry makes gpg fail at
// once instead of asking, for daemons. ox never sees a passphrase.
//
// # Trust
//
// The key listings run under the user's own trust model, from gpg.conf
// (pgp, tofu, tofu+pgp, direct, always; gpg brings the trustdb up to date
// first, as a plain 'gpg --list-keys' does), and every KeyInfo carries the
// validity they give its xmpp: user ID (field 2 of the "uid" record: u, f,
// m, n, -, q, e, r) as KeyInfo.Validity. Under "always", which lists every
// key as "-", the validity is full; the model is read with 'gpgconf
// --list-options gpg'. The client (package ox) turns validity into trust
// and decides which keys to use; every other run (sign, encrypt, decrypt,
// verify, export) uses --trust-model always, so that gpg does exactly what
// ox asked.
//
// # Keyring cache
//
// What gpg knows about keys is read from colon listings and cached until
// the keyring files change (checked with a few stat calls per operation),
// and filled key by key, so that sending or reading a message costs one gpg
// run however many keys the keyring holds.
package gnupg
