package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"mellium.im/xmpp/jid"
)

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// env is one invocation's world: arguments, streams and environment, so
// tests run ox in-process and hermetically.
type env struct {
	// ctx ends on Ctrl-C (SIGINT) or SIGTERM: every command stops with it.
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	home, account  string        // from the global flags
	timeout        time.Duration // --timeout of a network command; 0: none
	// online is the context of the command's time on the network (see
	// connect), kept to tell a --timeout from other failures.
	online context.Context
	// roomLost, when set, hears of a room the account is no longer in
	// though it did not leave it: the room put it out (muc.Rooms
	// OnRemoved), or would not have it back after a new login (rejoin).
	// reason says so. The daemon tells its subscribers, listen shows it,
	// room listen on that room ends with it.
	roomLost func(room jid.JID, reason string)
}

// command is one ox subcommand.
type command struct {
	name     string // "key generate"
	args     string // argument synopsis
	summary  string
	examples string
	flags    func(fs *flag.FlagSet) // registers the command's own flags
	run      func(e *env, fs *flag.FlagSet) error
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

// usageError is a mistake in how ox was called: exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// hinted is an error with a hint of what to do about it.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err, hint}
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as shells report it
)

// clock is the time keys and messages are judged at: the wall clock, but
// the test binary sets a later one to judge expiry without waiting.
var clock = time.Now

// defaultTimeout bounds a one-shot network command (--timeout).
const defaultTimeout = 2 * time.Minute

// Main runs ox with args and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	defer func() {
		// A bug must not look like success, and must not dump a stack on
		// the user: say so and how to report it.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "ox: error: internal error: %v\nox: hint: this is a bug in ox; please report it with the command you ran\n", r)
			status = exitFailure
		}
	}()

	// Global flags may come before the command; they are parsed again
	// with the command's own, so that a command's flag of the same name
	// (ox listen --timeout) takes them.
	global, rest, err := splitGlobal(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return exitOK
		}
		return report(stderr, err)
	}
	if len(rest) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	switch rest[0] {
	case "help":
		return help(stdout, stderr, rest[1:])
	case "--version", "-version":
		printVersion(stdout)
		return exitOK
	}
	c, n := findCommand(rest)
	if c == nil {
		if g := groupOf(rest[0]); g != nil {
			if len(rest) == 1 {
				printGroupHelp(stderr, rest[0], g)
				return exitUsage
			}
			if isHelpFlag(rest[1]) {
				printGroupHelp(stdout, rest[0], g)
				return exitOK
			}
			return report(stderr, withHint(usagef("unknown command %q", strings.Join(rest[:2], " ")), "run 'ox help "+rest[0]+"' for its commands"))
		}
		return report(stderr, withHint(usagef("unknown command %q", rest[0]), "run 'ox help' for the list of commands"))
	}
	fs := newFlagSet(c, e)
	if err := parseArgs(fs, append(takes(fs, global), rest[n:]...)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdout, c)
			return exitOK
		}
		return report(stderr, withHint(err, "run 'ox "+c.name+" --help'"))
	}
	err = c.run(e, fs)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C: whatever the command was doing failed because of it.
		fmt.Fprintln(stderr, "ox: interrupted")
		return exitInterrupted
	}
	var te *timeoutError
	if err != nil && e.online != nil && errors.As(context.Cause(e.online), &te) && !errors.As(err, &te) {
		err = withHint(fmt.Errorf("%w: %v", te, err), "give it longer with --timeout")
	}
	return report(stderr, err)
}

// timeoutError: a network command ran out of its --timeout.
type timeoutError struct{ d time.Duration }

func (t *timeoutError) Error() string { return fmt.Sprintf("gave up after --timeout %v", t.d) }

// newFlagSet holds c's flags and the global ones it does not define itself.
func newFlagSet(c *command, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("ox "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	addGlobalFlags(fs, e)
	return fs
}

func addGlobalFlags(fs *flag.FlagSet, e *env) {
	if fs.Lookup("home") == nil {
		fs.StringVar(&e.home, "home", "", "`DIR` holding ox's configuration and data (env OX_HOME)")
	}
	if fs.Lookup("account") == nil {
		fs.StringVar(&e.account, "account", "", "the account's `JID` (env OX_JID)")
	}
	// Only network commands (those with --connect-timeout) have an
	// overall time limit; one that stops by itself, such as ox listen,
	// defines its own --timeout with another default.
	if fs.Lookup("timeout") == nil && fs.Lookup("connect-timeout") != nil {
		fs.DurationVar(&e.timeout, "timeout", defaultTimeout, "give up the whole command after `DURATION` (0: never)")
	}
}

// globalFlags are the flags that may come before the command.
var globalFlags = map[string]bool{"home": true, "account": true, "timeout": true}

// splitGlobal separates the global flags before the command from the
// command and its arguments.
func splitGlobal(args []string) (global, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return global, args[i+1:], nil
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			return global, args[i:], nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case name == "version":
			return global, args[i:], nil
		case name == "h" || name == "help":
			return nil, nil, flag.ErrHelp
		case !globalFlags[name]:
			return nil, nil, withHint(usagef("unknown flag %s before the command", a), "run 'ox help' for the global flags; a command's own flags come after it")
		}
		global = append(global, a)
		if !hasValue {
			if i+1 == len(args) {
				return nil, nil, withHint(usagef("flag --%s needs a value", name), "run 'ox help'")
			}
			global = append(global, args[i+1])
			i++
		}
	}
	return global, nil, nil
}

// takes drops the global flags before the command that the command does
// not take (--timeout of an offline one): they are harmless there.
func takes(fs *flag.FlagSet, global []string) []string {
	var out []string
	for i := 0; i < len(global); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(global[i], "-"), "=")
		n := 1
		if !hasValue {
			n = 2 // splitGlobal made sure the value is there
		}
		if fs.Lookup(name) != nil {
			out = append(out, global[i:i+n]...)
		}
		i += n - 1
	}
	return out
}

// flagName is what can be a flag's name; an argument that starts with "-"
// and is not one ("-5 degrees outside", "-") is a positional argument.
var flagName = regexp.MustCompile(`^--?[A-Za-z][A-Za-z0-9-]*(=|$)`)

// parseArgs parses a command's arguments as a shell user expects: flags
// before and after the positional arguments, "--" ends the flags, and an
// argument that cannot be a flag's name, such as a message text that
// starts with "-", is positional. A word that looks like a flag but is
// not one of the command's is a usage error rather than text, so that a
// mistyped flag is never sent as a message; "--" passes such a word.
func parseArgs(fs *flag.FlagSet, args []string) error {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !flagName.MatchString(a) {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			return flag.ErrHelp
		}
		f := fs.Lookup(name)
		if f == nil {
			return usagef("unknown flag %s (to pass text that starts with -, put -- before it)", a)
		}
		switch {
		case hasValue:
			flags = append(flags, "-"+name+"="+value)
		case isBool(f):
			flags = append(flags, "-"+name)
		case i+1 < len(args):
			flags = append(flags, "-"+name+"="+args[i+1])
			i++
		default:
			return usagef("flag %s needs a value", flagLabel(f))
		}
	}
	if err := fs.Parse(append(flags, append([]string{"--"}, pos...)...)); err != nil {
		// The flag package names flags -name; ox's help writes --name.
		msg := err.Error()
		fs.VisitAll(func(f *flag.Flag) {
			msg = strings.Replace(msg, "flag -"+f.Name+":", "flag "+flagLabel(f)+":", 1)
		})
		return usagef("%s", msg)
	}
	return nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// flagLabel is how help writes a flag: --name, or -r for a one-letter one.
func flagLabel(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

func findCommand(args []string) (*command, int) {
	for _, n := range []int{2, 1} {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.name == name {
				return c, n
			}
		}
	}
	return nil, 0
}

// groupOf lists the commands of a group ("key": key generate, key list...),
// sorted; nil if name is no group.
func groupOf(name string) []*command {
	var g []*command
	for _, c := range sortedCommands() {
		if strings.HasPrefix(c.name, name+" ") {
			g = append(g, c)
		}
	}
	return g
}

func sortedCommands() []*command {
	sorted := append([]*command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	return sorted
}

// report prints err the way ox prints errors and returns the exit status.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	msg, hint := errorText(err)
	fmt.Fprintf(w, "ox: error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(w, "ox: hint: %s\n", hint)
	}
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// errorText is what ox prints of err: the message, on one line without a
// package's prefix, and the hint of what to do (""). The daemon's
// JSON-RPC errors carry the same.
func errorText(err error) (msg, hint string) {
	msg = err.Error()
	for _, p := range []string{"ox: ", "pgp: ", "gnupg: ", "check: ", "element: ", "store: ", "backup: ", "pep: ", "muc: ", "mam: ", "wot: ", "rpc: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	var h *hinted
	var lib interface{ Hint() string } // the library's errors with a hint (gnupg.Error)
	switch {
	case errors.As(err, &h) && h.hint != "":
		hint = h.hint
	case errors.As(err, &lib) && lib.Hint() != "":
		hint = oneLine(lib.Hint())
	default:
		hint = libraryHint(err)
	}
	return oneLine(msg), hint
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
