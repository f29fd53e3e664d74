// Package rpc is JSON-RPC 2.0 (https://www.jsonrpc.org/specification) as
// the ox daemon speaks it: one JSON object (or batch array) per line, over
// a Unix socket or a process's standard input and output, as signal-cli
// does.
//
// A Server dispatches requests to Handlers, one request after the other
// on each connection, and can send notifications (the daemon's "receive")
// to a connection at any time. A Client calls methods and hands
// notifications to a channel. Errors are *Error values with a stable Code
// per kind: the JSON-RPC codes for malformed or unknown requests, and the
// Code* values below -32000 for what a method reports.
//
// Listen and Dial make and open the daemon's socket: mode 0600 in a
// directory of mode 0700, and a connection from another user is refused
// (SO_PEERCRED), as is a socket that another user made.
package rpc
