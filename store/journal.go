package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MarkDeliveredJournal is MarkDelivered that also appends line to the
// journal, in the same transaction: the line is there exactly when the
// message counts as delivered. seq is the line's number (0 for a repeat,
// which is not journalled).
func (s *Store) MarkDeliveredJournal(ctx context.Context, id string, now time.Time, line []byte) (first bool, seq int64, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		first, seq, err = s.deliverIn(ctx, tx, id, now, line)
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: %w", err)
	}
	return first, seq, nil
}

// deliverIn is MarkDeliveredJournal's work in tx (no journal line when
// line is nil).
func (s *Store) deliverIn(ctx context.Context, tx *sql.Tx, id string, now time.Time, line []byte) (first bool, seq int64, err error) {
	st, err := s.txStmt(ctx, tx, deliverQuery)
	if err != nil {
		return false, 0, err
	}
	res, err := st.ExecContext(ctx, id, now.Unix())
	if err != nil {
		return false, 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, 0, nil
	}
	if line == nil {
		return true, 0, nil
	}
	seq, err = appendJournal(ctx, tx, now, line)
	return true, seq, err
}

// txStmt is the prepared statement for q, in tx.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

func appendJournal(ctx context.Context, tx *sql.Tx, now time.Time, line []byte) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO journal (at, line) VALUES (?, ?)`, now.Unix(), line)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// AppendJournal appends a line that goes with no delivered record (an
// event, a message without a stanza-id).
func (s *Store) AppendJournal(ctx context.Context, now time.Time, line []byte) (seq int64, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		seq, err = appendJournal(ctx, tx, now, line)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return seq, nil
}

// JournalLine is one line of the journal.
type JournalLine struct {
	Seq  int64
	Line []byte
}

// Journal lists up to limit lines after seq (with unshown, only those
// never shown), oldest first.
func (s *Store) Journal(ctx context.Context, after int64, unshown bool, limit int) ([]JournalLine, error) {
	q := `SELECT seq, line FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`
	if unshown {
		q = `SELECT seq, line FROM journal WHERE shown = 0 AND seq > ? ORDER BY seq LIMIT ?`
	}
	rows, err := s.db.QueryContext(ctx, q, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []JournalLine
	for rows.Next() {
		var l JournalLine
		if err := rows.Scan(&l.Seq, &l.Line); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// MarkShown records that the lines seqs were written to a subscriber.
func (s *Store) MarkShown(ctx context.Context, seqs ...int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range seqs {
			if _, err := tx.ExecContext(ctx, `UPDATE journal SET shown = 1 WHERE seq = ? AND shown = 0`, q); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		return nil
	})
}

// LastJournal is the newest line's seq (0: none).
func (s *Store) LastJournal(ctx context.Context) (int64, error) {
	var seq sql.NullInt64 // NULL: an empty journal
	if err := s.queryRow(ctx, `SELECT MAX(seq) FROM journal`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return seq.Int64, nil
}

// Unshown counts the lines never shown.
func (s *Store) Unshown(ctx context.Context) (int64, error) {
	var n int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM journal WHERE shown = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

// PruneJournal forgets shown lines older than t, and the oldest shown ones
// beyond keep lines; lines never shown stay.
func (s *Store) PruneJournal(ctx context.Context, t time.Time, keep int) error {
	_, err := s.exec(ctx, `DELETE FROM journal WHERE shown = 1 AND (at < ? OR seq <= (SELECT MAX(seq) FROM journal) - ?)`, t.Unix(), keep)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// tx runs f in one transaction: committed if f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
