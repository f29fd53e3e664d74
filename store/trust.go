package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TrustRecord is the current decision about one key of one contact.
type TrustRecord struct {
	JID, Fingerprint string
	State            string
	Since            time.Time
	Reason           string
}

// TrustEvent is one entry of the trust history: a state change, or a key
// event ("new", "removed", "expired", "revoked").
type TrustEvent struct {
	ID               int64
	JID, Fingerprint string
	What             string
	At               time.Time
	Reason           string
}

// SetTrust records a decision and logs it, in one transaction.
func (s *Store) SetTrust(ctx context.Context, r TrustRecord) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	at := r.Since.Unix()
	if _, err := tx.ExecContext(ctx, `INSERT INTO trust (jid, fpr, state, since, reason) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid, fpr) DO UPDATE SET state = excluded.state, since = excluded.since, reason = excluded.reason`,
		r.JID, r.Fingerprint, r.State, at, r.Reason); err != nil {
		return fmt.Errorf("store: set trust: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO trust_log (jid, fpr, state, at, reason) VALUES (?, ?, ?, ?, ?)`,
		r.JID, r.Fingerprint, r.State, at, r.Reason); err != nil {
		return fmt.Errorf("store: log trust: %w", err)
	}
	return tx.Commit()
}

// LogTrustEvent records a key event without changing a decision.
func (s *Store) LogTrustEvent(ctx context.Context, e TrustEvent) error {
	_, err := s.exec(ctx, `INSERT INTO trust_log (jid, fpr, state, at, reason) VALUES (?, ?, ?, ?, ?)`,
		e.JID, e.Fingerprint, e.What, e.At.Unix(), e.Reason)
	if err != nil {
		return fmt.Errorf("store: log key event: %w", err)
	}
	return nil
}

// Trust returns the decision about fpr for jid, or ErrNotFound.
func (s *Store) Trust(ctx context.Context, jid, fpr string) (TrustRecord, error) {
	r := TrustRecord{JID: jid, Fingerprint: fpr}
	var since int64
	err := s.queryRow(ctx, `SELECT state, since, reason FROM trust WHERE jid = ? AND fpr = ?`, jid, fpr).Scan(&r.State, &since, &r.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	r.Since = time.Unix(since, 0).UTC()
	return r, nil
}

// TrustOf returns the decisions for jid's keys (all contacts' if jid is "").
func (s *Store) TrustOf(ctx context.Context, jid string) ([]TrustRecord, error) {
	q, args := `SELECT jid, fpr, state, since, reason FROM trust ORDER BY jid, since, fpr`, []any{}
	if jid != "" {
		q, args = `SELECT jid, fpr, state, since, reason FROM trust WHERE jid = ? ORDER BY since, fpr`, []any{jid}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []TrustRecord
	for rows.Next() {
		var r TrustRecord
		var since int64
		if err := rows.Scan(&r.JID, &r.Fingerprint, &r.State, &since, &r.Reason); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		r.Since = time.Unix(since, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// TrustLog returns jid's trust history (everyone's if jid is ""), oldest first.
func (s *Store) TrustLog(ctx context.Context, jid string) ([]TrustEvent, error) {
	q, args := `SELECT id, jid, fpr, state, at, reason FROM trust_log ORDER BY id`, []any{}
	if jid != "" {
		q, args = `SELECT id, jid, fpr, state, at, reason FROM trust_log WHERE jid = ? ORDER BY id`, []any{jid}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []TrustEvent
	for rows.Next() {
		var e TrustEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.JID, &e.Fingerprint, &e.What, &at, &e.Reason); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Policy returns the policy set for jid ("" for the account), or "".
func (s *Store) Policy(ctx context.Context, jid string) (string, error) {
	var p string
	err := s.queryRow(ctx, `SELECT policy FROM trust_policy WHERE jid = ?`, jid).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return p, nil
}

// SetPolicy sets the policy for jid ("" for the account); an empty policy
// removes the override.
func (s *Store) SetPolicy(ctx context.Context, jid, policy string) error {
	var err error
	if policy == "" {
		_, err = s.exec(ctx, `DELETE FROM trust_policy WHERE jid = ?`, jid)
	} else {
		_, err = s.exec(ctx, `INSERT INTO trust_policy (jid, policy) VALUES (?, ?) ON CONFLICT (jid) DO UPDATE SET policy = excluded.policy`, jid, policy)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
