// Package hostile is a small scripted XMPP server on loopback for tests of
// stream negotiation only: each test writes what the server says and does
// (offer STARTTLS or not, refuse it, fail SASL or binding, close the
// stream, say nothing), and afterwards asserts on every byte the client
// sent before TLS. Everything after negotiation is tested against the real
// servers (internal/prosody), never against this one.
package hostile
