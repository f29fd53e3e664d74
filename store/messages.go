package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MarkDelivered records that the message with the server's stanza-id id was
// handed to the user; it reports false if it had been already.
func (s *Store) MarkDelivered(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.exec(ctx, deliverQuery, id, now.Unix())
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PruneDelivered forgets the ids of messages handed over before t.
func (s *Store) PruneDelivered(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM delivered WHERE at < ?`, t.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return res.RowsAffected()
}

// IsDelivered reports whether the message with the server's stanza-id id
// was handed to the user already.
func (s *Store) IsDelivered(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM delivered WHERE stanza_id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return n > 0, nil
}

// Pending is a message that could not be read yet.
type Pending struct {
	ID       int64
	Sender   string
	Stanza   []byte
	Received time.Time
	Reason   string
	// StanzaID is the server's stanza-id (XEP-0359), if any: a second copy
	// of the message is not kept again.
	StanzaID string
}

// AddPending keeps a message to try again later.
func (s *Store) AddPending(ctx context.Context, p Pending) (int64, error) {
	res, err := s.exec(ctx, `INSERT INTO pending (sender, stanza, received, reason, stanza_id) VALUES (?, ?, ?, ?, ?)`, p.Sender, p.Stanza, p.Received.Unix(), p.Reason, p.StanzaID)
	if err != nil {
		return 0, fmt.Errorf("store: keep pending message: %w", err)
	}
	return res.LastInsertId()
}

// PendingFrom returns the messages from sender that wait, oldest first; an
// empty sender means all.
func (s *Store) PendingFrom(ctx context.Context, sender string) ([]Pending, error) {
	q, args := `SELECT id, sender, stanza, received, reason, stanza_id FROM pending ORDER BY id`, []any{}
	if sender != "" {
		q, args = `SELECT id, sender, stanza, received, reason, stanza_id FROM pending WHERE sender = ? ORDER BY id`, []any{sender}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		var at int64
		if err := rows.Scan(&p.ID, &p.Sender, &p.Stanza, &at, &p.Reason, &p.StanzaID); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		p.Received = time.Unix(at, 0).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// PendingSender is a sender of pending messages: Matched says whether the
// reason of one of them begins with the prefix asked for.
type PendingSender struct {
	Sender  string
	Matched bool
}

// PendingSenders lists the senders of pending messages, the newest
// message's first, without reading the messages, and how many messages
// are pending.
func (s *Store) PendingSenders(ctx context.Context, reasonPrefix string) ([]PendingSender, int, error) {
	rows, err := s.query(ctx, `SELECT sender, MAX(substr(reason, 1, length(?1)) = ?1), COUNT(*) FROM pending GROUP BY sender ORDER BY MAX(id) DESC`, reasonPrefix)
	if err != nil {
		return nil, 0, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []PendingSender
	total := 0
	for rows.Next() {
		var p PendingSender
		var n int
		if err := rows.Scan(&p.Sender, &p.Matched, &n); err != nil {
			return nil, 0, fmt.Errorf("store: %w", err)
		}
		out = append(out, p)
		total += n
	}
	return out, total, rows.Err()
}

// DeletePending forgets a pending message (it was read or rejected for good).
func (s *Store) DeletePending(ctx context.Context, id int64) error {
	_, err := s.exec(ctx, `DELETE FROM pending WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// MAMCursor returns the last archive id processed for archive, or "".
func (s *Store) MAMCursor(ctx context.Context, archive string) (string, error) {
	var id string
	err := s.queryRow(ctx, `SELECT last_id FROM mam_cursor WHERE archive = ?`, archive).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return id, nil
}

// SetMAMCursor records the last archive id processed.
func (s *Store) SetMAMCursor(ctx context.Context, archive, id string) error {
	_, err := s.exec(ctx, `INSERT INTO mam_cursor (archive, last_id) VALUES (?, ?) ON CONFLICT (archive) DO UPDATE SET last_id = excluded.last_id`, archive, id)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Inboxed is an incoming message kept in the inbox until the client reads
// it: Meta is the client's own record of how it arrived.
type Inboxed struct {
	ID     int64
	Stanza []byte
	Meta   []byte
}

// AddInbox keeps an incoming message for the client to read later, after
// those kept before it.
func (s *Store) AddInbox(ctx context.Context, stanza, meta []byte) error {
	if _, err := s.exec(ctx, `INSERT INTO inbox (stanza, meta) VALUES (?, ?)`, stanza, meta); err != nil {
		return fmt.Errorf("store: keep an incoming message: %w", err)
	}
	return nil
}

// Inbox returns up to n kept incoming messages, oldest first.
func (s *Store) Inbox(ctx context.Context, n int) ([]Inboxed, error) {
	rows, err := s.query(ctx, `SELECT id, stanza, meta FROM inbox ORDER BY id LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Inboxed
	for rows.Next() {
		var m Inboxed
		if err := rows.Scan(&m.ID, &m.Stanza, &m.Meta); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteInbox forgets a kept incoming message once it was read.
func (s *Store) DeleteInbox(ctx context.Context, id int64) error {
	return s.DeleteInboxRange(ctx, id, id)
}

// DeleteInboxRange forgets the kept incoming messages from first to last
// (their ids), in one write.
func (s *Store) DeleteInboxRange(ctx context.Context, first, last int64) error {
	if _, err := s.exec(ctx, `DELETE FROM inbox WHERE id BETWEEN ? AND ?`, first, last); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// The pending messages' stanza-ids are indexed where not empty (migration
// 6): a query must repeat that condition (the stanza-id is not the empty
// string) for SQLite to use that index, or it reads every pending message,
// for every message that comes (Seen).
const (
	seenQuery       = `SELECT (SELECT COUNT(*) FROM delivered WHERE stanza_id = ?1) + (SELECT COUNT(*) FROM pending WHERE stanza_id = ?1 AND stanza_id != '')`
	hasPendingQuery = `SELECT COUNT(*) FROM pending WHERE stanza_id = ? AND stanza_id != ''`
)

// Seen reports whether the message with the server's stanza-id id was
// handed to the user already, or is kept as pending: one query for both.
func (s *Store) Seen(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, seenQuery, id).Scan(&n); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return n > 0, nil
}

// HasPending reports whether a message with the server's stanza-id id is
// kept as pending already.
func (s *Store) HasPending(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	var n int
	if err := s.queryRow(ctx, hasPendingQuery, id).Scan(&n); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return n > 0, nil
}

// Accepted is a signed message accepted before: how its first copy came.
type Accepted struct {
	Origin, StanzaID string
	At               time.Time
}

const (
	acceptQuery   = `INSERT OR IGNORE INTO accepted (at, digest, origin, stanza_id) VALUES (?, ?, ?, ?)`
	acceptedQuery = `SELECT origin, stanza_id, at FROM accepted WHERE at = ? AND digest = ?`
	deliverQuery  = `INSERT OR IGNORE INTO delivered (stanza_id, at) VALUES (?, ?)`
)

// AcceptDeliver records a signed message accepted now by its digest and
// signature time (a.At: the two are its key, so a.At must be the time the
// digest was made with) and then MarkDeliveredJournal of id (nothing when
// id is "", no journal line when line is nil), in one transaction: one
// commit where there were two, for every message read. A message accepted
// before records nothing: prev is the copy recorded then, and what to do
// with this one is the caller's (a replay, or the server's second copy).
func (s *Store) AcceptDeliver(ctx context.Context, digest string, a Accepted, id string, now time.Time, line []byte) (prev *Accepted, first bool, seq int64, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, acceptQuery)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, a.At.Unix(), digest, a.Origin, a.StanzaID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			if st, err = s.txStmt(ctx, tx, acceptedQuery); err != nil {
				return err
			}
			var p Accepted
			var at int64
			if err := st.QueryRowContext(ctx, a.At.Unix(), digest).Scan(&p.Origin, &p.StanzaID, &at); err != nil {
				return err
			}
			p.At = time.Unix(at, 0).UTC()
			prev = &p
			return nil
		}
		if id == "" {
			first = true
			return nil
		}
		first, seq, err = s.deliverIn(ctx, tx, id, now, line)
		return err
	})
	if err != nil {
		return nil, false, 0, fmt.Errorf("store: %w", err)
	}
	return prev, first, seq, nil
}

// PruneAccepted forgets accepted messages signed before t: a replay of one
// is refused by the time checks.
func (s *Store) PruneAccepted(ctx context.Context, t time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM accepted WHERE at < ?`, t.Unix()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
