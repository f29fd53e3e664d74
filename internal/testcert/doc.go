// Package testcert holds what the test servers (internal/prosody,
// internal/ejabberd) share: a throw-away CA and leaf certificate, free
// loopback ports, and the rule that says whether a missing server binary
// skips a test or fails it.
package testcert
