// Package muc implements OX in group chats: XEP-0374 messages in XEP-0045
// non-anonymous rooms.
//
// Every occupant's real JID is known (the room says it in its presence), so
// a message is encrypted to each occupant's and member's keys like a chat
// message to each of them, with <to/> the room's bare JID, and the sender
// is verified by the real JID behind their nick. Rooms that hide real JIDs
// are refused.
//
// New gives an ox.Client the room handlers; what the rooms receive goes
// through the Client's one receive pipeline (ox.Client.Enqueue), and what
// is sent through its one send path (ox.Client.Seal). The package holds
// the rooms' state only; it imports the root package, never the reverse.
package muc
