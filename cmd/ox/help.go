package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// help runs "ox help [GROUP|COMMAND]".
func help(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		printHelp(stdout)
		return exitOK
	}
	if c, n := findCommand(args); c != nil && n == len(args) {
		printCommandHelp(stdout, c)
		return exitOK
	}
	if g := groupOf(args[0]); g != nil && len(args) == 1 {
		printGroupHelp(stdout, args[0], g)
		return exitOK
	}
	return report(stderr, withHint(usagef("unknown command %q", strings.Join(args, " ")), "run 'ox help' for the list of commands"))
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `ox: OpenPGP for XMPP (XEP-0373/0374) from the terminal

Usage: ox [--home DIR] [--account JID] COMMAND [ARGS]

Commands:
`)
	printCommandList(w, sortedCommands())
	fmt.Fprint(w, `
Global flags (before or after the command):
  --home DIR          configuration and data (env OX_HOME; default the XDG directories)
  --account JID       which account (env OX_JID; default the only account in the home)
  --timeout DURATION  network commands: give up after DURATION (default 2m; 0: never)
  --version           print ox's version and exit

Run 'ox help COMMAND' or 'ox COMMAND --help' for a command's flags and examples,
'ox help GROUP' (key, cert, trust...) for a group's commands.
`)
}

func printCommandList(w io.Writer, cs []*command) {
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
}

func printGroupHelp(w io.Writer, group string, cs []*command) {
	fmt.Fprintf(w, "Usage: ox %s COMMAND [flags] [ARGS]\n\nCommands:\n", group)
	printCommandList(w, cs)
	fmt.Fprintf(w, "\nRun 'ox %s COMMAND --help' for a command's flags and examples.\n", group)
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: ox %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
	own, global := commandFlags(c)
	if len(own) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, own)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	printFlags(w, global)
	if c.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
	}
}

// commandFlags are c's own flags and the global ones it takes, each sorted
// by name.
func commandFlags(c *command) (own, global []*flag.Flag) {
	fs := newFlagSet(c, &env{})
	mine := flag.NewFlagSet("", flag.ContinueOnError)
	if c.flags != nil {
		c.flags(mine)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if mine.Lookup(f.Name) != nil {
			own = append(own, f)
		} else {
			global = append(global, f)
		}
	})
	return own, global
}

// printFlags writes flags as --name VALUE, the usage below, with the
// default when it is not the zero value.
func printFlags(w io.Writer, fs []*flag.Flag) {
	for _, f := range fs {
		value, usage := flag.UnquoteUsage(f)
		line := "  " + flagLabel(f)
		if value != "" {
			line += " " + value
		}
		fmt.Fprintf(w, "%s\n        %s%s\n", line, usage, defaultNote(f))
	}
}

func defaultNote(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false", "[]":
		return ""
	}
	return fmt.Sprintf(" (default %s)", f.DefValue)
}
