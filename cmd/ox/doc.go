// Command ox is an OpenPGP for XMPP (XEP-0373, XEP-0374) client for the
// terminal and for scripts.
//
// Data goes to standard output; diagnostics go to standard error as
// "ox: error: ..." with an "ox: hint: ..." saying what to do. ox exits 0 on
// success, 1 on failure and 2 on a usage error. Run "ox help" or
// "ox COMMAND --help" for the commands and examples.
package main
