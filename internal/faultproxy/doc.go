// Package faultproxy is a TCP proxy on loopback for tests that need a bad
// network between a client and a real server: the test cuts every
// connection, takes the path down and up again, stalls the server's bytes
// (the socket stays open and nothing arrives, as on a dead path) and
// restores them, adds latency per direction, and counts the bytes that
// went through.
//
// It forwards bytes only; it knows nothing of XMPP. The client connects to
// Proxy.Addr, the proxy to the target (the server's real address).
package faultproxy
