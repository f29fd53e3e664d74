package feed

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"codeberg.org/ox/ox"
	"mellium.im/xmpp/jid"
)

// The Types of a Line.
const (
	TypeMessage  = "message"
	TypeRejected = "rejected"
	TypePending  = "pending"
	TypeEvent    = "event"
)

// Line is one received thing, as JSON. Times are RFC 3339 in UTC.
type Line struct {
	Type string `json:"type"`
	// Seq numbers the lines a daemon hands out (its journal), so that a
	// script that lost its connection subscribes again after the last
	// one it saw; absent in what ox listen prints without a daemon.
	Seq int64 `json:"seq,omitempty"`
	// Event names an event (Type "event"): "key-new", "key-revoked",
	// "certification-offer", ...
	Event string `json:"event,omitempty"`
	// ID is the sender's message id; StanzaID the server's (XEP-0359);
	// Origin how it came: live, offline, carbon, archive, room-history.
	ID       string `json:"id,omitempty"`
	StanzaID string `json:"stanza_id,omitempty"`
	Origin   string `json:"origin,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	// Room and Nick are set for a group chat message.
	Room string `json:"room,omitempty"`
	Nick string `json:"nick,omitempty"`
	// Time is the sender's <time/> (XEP-0373 §3.1), Signed the signature's
	// creation time, Delivered when the server or this device got it.
	Time      string `json:"time,omitempty"`
	Signed    string `json:"signed,omitempty"`
	Delivered string `json:"delivered,omitempty"`
	Body      string `json:"body,omitempty"`
	Payload   string `json:"payload,omitempty"`
	Signer    string `json:"signer,omitempty"`
	// Verified is true for a message whose signature and checks passed.
	Verified bool `json:"verified,omitempty"`
	// Trust is the user's trust in the key: undecided, blind, verified,
	// rejected; Validity the key's validity in the user's GnuPG.
	Trust    string `json:"trust,omitempty"`
	Validity string `json:"validity,omitempty"`
	// Verdict is "ok", "rejected" or "pending" for messages (the Type says
	// the same; kept for scripts written before Type).
	Verdict string `json:"verdict,omitempty"`
	// Reason says why a message was rejected or is pending, or what an
	// event means.
	Reason string `json:"reason,omitempty"`
	// Sent marks a copy of a message the account sent.
	Sent     bool     `json:"sent,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// Key events.
	JID         string `json:"jid,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`

	// Certification offers (the web of trust).
	Offer     int64    `json:"offer,omitempty"`
	Certifier string   `json:"certifier,omitempty"`
	Target    string   `json:"target,omitempty"`
	UserIDs   []string `json:"user_ids,omitempty"`

	// At is when an event happened.
	At string `json:"at,omitempty"`

	// A message that shares a file (an aesgcm:// link, XEP-0454): its
	// HTTPS address, and once fetched (ox listen --download) where it was
	// kept and its size, or why it was not kept.
	FileURL   string `json:"file_url,omitempty"`
	FilePath  string `json:"file_path,omitempty"`
	FileSize  int64  `json:"file_size,omitempty"`
	FileError string `json:"file_error,omitempty"`
	// Done and Total are a transfer's progress (event "file-progress"),
	// in bytes.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// FileProgress is the event of a file transfer's progress.
func FileProgress(url string, done, total int64, at time.Time) Line {
	return Line{Type: TypeEvent, Event: "file-progress", FileURL: url, Done: done, Total: total, At: stamp(at)}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// FromMessage is the Line of a message the pipeline delivered (a message,
// a rejection, a pending message or a certification offer).
func FromMessage(m *ox.Message) Line {
	if m.Certification != nil {
		return fromCertification(m)
	}
	l := Line{
		ID: m.ID, StanzaID: m.StanzaID, Origin: string(m.Origin),
		From: m.From.String(), To: m.To.String(),
		Delivered: stamp(m.Delivered), Sent: m.Sent, Warnings: m.Warnings,
	}
	if !m.Room.Equal(jid.JID{}) {
		l.Room, l.Nick = m.Room.String(), m.Nick
	}
	switch {
	case m.Pending:
		l.Type, l.Verdict = TypePending, "pending"
		l.Reason = m.Err.Error()
	case m.Err != nil:
		l.Type, l.Verdict = TypeRejected, "rejected"
		l.Reason = m.Err.Error()
		if !m.Signer.IsZero() {
			l.Signer, l.Trust, l.Validity = m.Signer.String(), m.Trust.String(), m.Validity
		}
	default:
		l.Type, l.Verdict, l.Verified = TypeMessage, "ok", true
		l.Trust, l.Validity = m.Trust.String(), m.Validity
		l.Time, l.Signed = stamp(m.Time), stamp(m.SignedAt)
		l.Body, l.Payload, l.Signer = m.Body, string(m.Payload), m.Signer.String()
	}
	return l
}

func fromCertification(m *ox.Message) Line {
	o := m.Certification
	l := Line{
		Type: TypeEvent, Event: "certification-offer", Offer: o.ID,
		ID: m.ID, StanzaID: m.StanzaID, Origin: string(m.Origin),
		From: o.From.String(), Certifier: o.Certifier.String(), UserIDs: o.UserIDs,
		Trust: o.Trust.String(), At: stamp(o.Received),
	}
	if !o.Target.IsZero() {
		l.Target = o.Target.String()
	}
	if o.Err != nil {
		l.Event, l.Reason = "certification-refused", o.Err.Error()
	}
	return l
}

// Counts reports whether l is what `ox listen --count` counts: something
// another sender sent (a message, a rejection, a certification offer),
// not a copy of the account's own message, not a pending message (counted
// once it is read), not an event of the account's own.
func Counts(l Line) bool {
	if l.Sent {
		return false
	}
	return l.Type == TypeMessage || l.Type == TypeRejected || strings.HasPrefix(l.Event, "certification-")
}

// Event is the Line of an event of the connection (connected,
// disconnected, reconnected) or of the daemon at the time at.
func Event(what, reason string, at time.Time) Line {
	return Line{Type: TypeEvent, Event: what, Reason: reason, At: stamp(at)}
}

// RoomLeft is the Line of a room the account is no longer in, though it
// did not leave it (the room put it out, or would not have it back after
// a new login): reason says which, and that its messages are not read.
func RoomLeft(room, reason string, at time.Time) Line {
	l := Event("room-left", reason, at)
	l.Room = room
	return l
}

// FromKeyChange is the Line of a key event seen at the time at.
func FromKeyChange(k ox.KeyChange, at time.Time) Line {
	l := Line{Type: TypeEvent, Event: "key-" + k.What, Fingerprint: k.Fingerprint, Reason: k.Reason, At: stamp(at)}
	if !k.JID.Equal(jid.JID{}) {
		l.JID = k.JID.String()
	}
	if k.Reason == "" { // the warnings carry a reason instead of a trust
		l.Trust = k.Trust.String()
	}
	return l
}

// Write writes l as one line of JSON. Bodies are text, not HTML: nothing
// is escaped for a browser.
func Write(w io.Writer, l Line) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(l)
}
