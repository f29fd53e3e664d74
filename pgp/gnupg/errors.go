package gnupg

import (
	"errors"
	"fmt"
	"strings"
)

// The kinds of failure that are GnuPG's, not OpenPGP's. An *Error wraps one
// of them (or a pgp sentinel such as pgp.ErrUnsupportedKey); match them with
// errors.Is.
var (
	// ErrGPGNotFound: there is no gpg binary where ox looked.
	ErrGPGNotFound = errors.New("gnupg: gpg not found")
	// ErrGPGTooOld: the gpg binary is older than MinVersion.
	ErrGPGTooOld = errors.New("gnupg: gpg is too old")
	// ErrNoAgent: gpg could not reach or start gpg-agent, which holds every
	// secret key.
	ErrNoAgent = errors.New("gnupg: gpg-agent is not available")
	// ErrNoPinentry: a secret key is protected by a passphrase that is not
	// cached, and gpg-agent has no pinentry that can ask for it here.
	ErrNoPinentry = errors.New("gnupg: no pinentry can ask for the passphrase")
	// ErrCanceled: the passphrase or PIN prompt was canceled or timed out.
	ErrCanceled = errors.New("gnupg: the passphrase prompt was canceled")
	// ErrBadPassphrase: the passphrase or PIN was wrong (or none was given).
	ErrBadPassphrase = errors.New("gnupg: bad passphrase")
	// ErrCard: the secret key lives on a smartcard that is not present, or
	// the card (or scdaemon) failed.
	ErrCard = errors.New("gnupg: the smartcard is not available")
	// ErrGPG: gpg failed in a way ox has no better name for; the Error's
	// Detail says what gpg said.
	ErrGPG = errors.New("gnupg: gpg failed")
)

// Error is a failure of a gpg run, with what gpg said and what to do.
type Error struct {
	Op     string // what ox asked gpg to do: "decrypt", "sign", "generate", ...
	Err    error  // the kind: one of the Err* above, or a pgp sentinel
	Code   int    // the libgpg-error code from gpg's status line, 0 if none
	Key    string // the key concerned (fingerprint or key ID), if known
	Detail string // the last diagnostic line gpg printed, verbatim
	Advice string // what the user can do about it
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gnupg: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "gnupg: "))
	if e.Key != "" {
		b.WriteString(" (key " + e.Key + ")")
	}
	if e.Detail != "" && !strings.Contains(e.Err.Error(), e.Detail) {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Hint is what the user can do about the error, for a caller that prints
// hints (the ox CLI prints it as "ox: hint: ...").
func (e *Error) Hint() string { return e.Advice }

// VersionError says that the gpg binary is too old.
type VersionError struct {
	GPG     string // the binary
	Version string // what it reported
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("gnupg: %s is GnuPG %s; ox needs GnuPG %s or later", e.GPG, e.Version, MinVersion)
}

func (e *VersionError) Unwrap() error { return ErrGPGTooOld }

// Hint says how to get a gpg that is new enough.
func (e *VersionError) Hint() string {
	return "install GnuPG " + MinVersion + " or later (Debian and Ubuntu: apt-get install gnupg), or point ox at it (gnupg.Options.GPG; often it is called gpg2)"
}

// Error codes of libgpg-error that gpg reports in ERROR, FAILURE and
// ERRSIG status lines (the low 16 bits; the high byte names the component).
const (
	codeNoPubkey       = 9
	codeBadPassphrase  = 11
	codeNoSeckey       = 17
	codeTimeout        = 62
	codeNoAgent        = 77
	codeAgent          = 78
	codeNoPinentry     = 85
	codePinentry       = 86
	codeBadPIN         = 87
	codeCanceled       = 99
	codeCard           = 108
	codeCardReset      = 109
	codeCardRemoved    = 110
	codeInvCard        = 111
	codeCardNotPresent = 112
	codeNoSCDaemon     = 119
	codeSCDaemon       = 120
	codeCardNotInit    = 123
	codePINBlocked     = 130
	codeNoPassphrase   = 177
	codeNoPIN          = 178
	codeFullyCanceled  = 198
	codeAssConnect     = 259
	codeSystemError    = 1 << 15
	sourcePinentry     = 5
	sourceSCD          = 6
	codeMask           = 0xffff
	sourceShift        = 24
	codeEnotty         = codeSystemError | 102
	codeEconnrefused   = codeSystemError | 25
)

// kindOf classifies a status-line error code (as gpg prints it: source in
// the high byte) as one of the agent, pinentry or card failures, or nil.
func kindOf(full int) error {
	code, source := full&codeMask, full>>sourceShift
	switch code {
	case codeNoPinentry, codePinentry, codeEnotty:
		return ErrNoPinentry
	case codeCanceled, codeFullyCanceled, codeTimeout:
		return ErrCanceled
	case codeBadPassphrase, codeBadPIN, codeNoPassphrase, codeNoPIN:
		return ErrBadPassphrase
	case codeNoAgent, codeAgent, codeAssConnect, codeEconnrefused:
		return ErrNoAgent
	case codeCard, codeCardReset, codeCardRemoved, codeInvCard, codeCardNotPresent,
		codeNoSCDaemon, codeSCDaemon, codeCardNotInit, codePINBlocked:
		return ErrCard
	}
	switch source {
	case sourcePinentry:
		return ErrNoPinentry
	case sourceSCD:
		return ErrCard
	}
	return nil
}

// advice says what to do about a kind of failure.
func (b *Backend) advice(kind error) string {
	switch kind {
	case ErrNoPinentry:
		return "unlock the key in gpg-agent first (run gpg once where a pinentry can ask, e.g. in a terminal with GPG_TTY=$(tty) exported), install a pinentry program, or remove the passphrase with 'gpg --passwd'"
	case ErrCanceled:
		return "run the command again and enter the passphrase (or PIN) when asked"
	case ErrBadPassphrase:
		return "run the command again with the right passphrase; 'gpg --passwd KEY' changes it"
	case ErrNoAgent:
		return "start it with 'gpgconf" + b.homeFlag() + " --launch gpg-agent' and read what it says; a GNUPGHOME with a very long path needs a short one (or /run/user/UID for the sockets)"
	case ErrCard:
		return "insert the smartcard that holds the key ('gpg --card-status' shows what gpg sees) and make sure scdaemon is installed"
	}
	return ""
}

func (b *Backend) homeFlag() string {
	if b.home == "" {
		return ""
	}
	return " --homedir " + b.home
}

// describe is gpg's own text for the codes of agent, pinentry and card
// failures (libgpg-error's gpg_strerror), with the component that failed;
// "" for other codes.
func describe(full int) string {
	text := map[int]string{
		codeBadPassphrase: "Bad passphrase", codeTimeout: "Timeout", codeNoAgent: "No agent running",
		codeAgent: "agent error", codeNoPinentry: "No pinentry", codePinentry: "pinentry error",
		codeBadPIN: "Bad PIN", codeCanceled: "Operation cancelled", codeCard: "Card error",
		codeCardReset: "Card reset required", codeCardRemoved: "Card removed", codeInvCard: "Invalid card",
		codeCardNotPresent: "Card not present", codeNoSCDaemon: "No SmartCard daemon",
		codeSCDaemon: "SmartCard daemon error", codeCardNotInit: "Card not initialized",
		codePINBlocked: "PIN blocked", codeNoPassphrase: "No passphrase given", codeNoPIN: "No PIN given",
		codeFullyCanceled: "Operation fully cancelled", codeAssConnect: "IPC connect call failed",
		codeEnotty:       "Inappropriate ioctl for device (no terminal for the pinentry)",
		codeEconnrefused: "Connection refused",
	}[full&codeMask]
	if text == "" {
		return ""
	}
	switch full >> sourceShift {
	case 2:
		return "gpg: " + text
	case 4:
		return "gpg-agent: " + text
	case sourcePinentry:
		return "pinentry: " + text
	case sourceSCD:
		return "scdaemon: " + text
	}
	return text
}

// codeName names the error codes that signature checks report.
func codeName(full int) string {
	switch full & codeMask {
	case codeNoPubkey:
		return "no public key"
	case 4:
		return "unsupported public key algorithm"
	case 5:
		return "unsupported digest algorithm"
	case 8:
		return "bad signature"
	case 61:
		return "unknown critical signature packet"
	case 94:
		return "certificate revoked"
	case 153:
		return "key expired"
	case 154:
		return "signature expired"
	case 161:
		return "invalid time"
	}
	return fmt.Sprintf("gpg error code %d", full&codeMask)
}
