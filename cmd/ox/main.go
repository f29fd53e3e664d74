package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// env is one invocation's world: arguments, streams and environment, so
// tests run ox in-process and hermetically.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	home, account  string // from the global flags
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

// Main runs ox with args and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	defer func() {
		// A bug must not look like success, and must not dump a stack on
		// the user: say so and how to report it.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "ox: error: internal error: %v\nox: hint: this is a bug in ox; please report it with the command you ran\n", r)
			status = 1
		}
	}()

	// Global flags may come before the command.
	global := flag.NewFlagSet("ox", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	addGlobalFlags(global, e)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return 0
		}
		return report(stderr, usagef("%v", err))
	}
	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" {
		if len(rest) > 1 {
			if c, _ := findCommand(rest[1:]); c != nil {
				printCommandHelp(stdout, c)
				return 0
			}
		}
		if len(rest) == 0 {
			printHelp(stderr)
			return 2
		}
		printHelp(stdout)
		return 0
	}
	if rest[0] == "version" || rest[0] == "--version" {
		fmt.Fprintln(stdout, "ox", version())
		return 0
	}
	c, n := findCommand(rest)
	if c == nil {
		return report(stderr, withHint(usagef("unknown command %q", strings.Join(rest[:min(2, len(rest))], " ")), "run 'ox help' for the list of commands"))
	}
	fs := flag.NewFlagSet("ox "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addGlobalFlags(fs, e)
	if c.flags != nil {
		c.flags(fs)
	}
	if err := fs.Parse(interleave(fs, rest[n:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdout, c)
			return 0
		}
		return report(stderr, withHint(usagef("%v", err), "run 'ox "+c.name+" --help'"))
	}
	return report(stderr, c.run(e, fs))
}

// interleave moves flags after positional arguments to the front, so
// "ox cert show alice@example.org --home h" works as people type it.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, append([]string{"--"}, pos...)...)
}

func addGlobalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.home, "home", e.home, "`DIR` holding ox's configuration and data (env OX_HOME)")
	fs.StringVar(&e.account, "account", e.account, "the account's `JID` (env OX_JID)")
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

// report prints err the way ox prints errors and returns the exit status.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	msg := err.Error()
	for _, p := range []string{"ox: ", "pgp: ", "gnupg: ", "check: ", "element: ", "store: ", "backup: ", "pep: ", "muc: ", "mam: ", "wot: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	fmt.Fprintf(w, "ox: error: %s\n", oneLine(msg))
	var h *hinted
	var lib interface{ Hint() string } // the library's errors with a hint (gnupg.Error)
	switch {
	case errors.As(err, &h) && h.hint != "":
		fmt.Fprintf(w, "ox: hint: %s\n", h.hint)
	case errors.As(err, &lib) && lib.Hint() != "":
		fmt.Fprintf(w, "ox: hint: %s\n", oneLine(lib.Hint()))
	case libraryHint(err) != "":
		fmt.Fprintf(w, "ox: hint: %s\n", libraryHint(err))
	}
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printHelp(w io.Writer) {
	fmt.Fprint(w, `ox: OpenPGP for XMPP (XEP-0373/0374) from the terminal

Usage: ox [--home DIR] [--account JID] COMMAND [ARGS]

Commands:
`)
	sorted := append([]*command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	width := 0
	for _, c := range sorted {
		width = max(width, len(c.name))
	}
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, `
Global flags (before or after the command):
  --home DIR       configuration and data (env OX_HOME; default the XDG directories)
  --account JID    which account (env OX_JID; default the only account in the home)

Run 'ox help COMMAND' or 'ox COMMAND --help' for a command's flags and examples.
`)
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: ox %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var e env
	addGlobalFlags(fs, &e)
	if c.flags != nil {
		c.flags(fs)
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	if c.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
	}
}
