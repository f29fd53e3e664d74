// Command ox is an OpenPGP for XMPP (XEP-0373, XEP-0374) client for the
// terminal and for scripts.
//
// Data goes to standard output; diagnostics go to standard error as
// "ox: error: ..." with an "ox: hint: ..." saying what to do. ox exits 0 on
// success, 1 on failure, 2 on a usage error and 130 when interrupted. Run
// "ox help" or "ox COMMAND --help" for the commands and examples.
//
// Every command registers itself in one table (register in main.go); the
// argument parser, the help, the shell completion (ox completion) and the
// man page (ox man, doc/ox.1: go generate ./cmd/ox) all come from it.
package main
