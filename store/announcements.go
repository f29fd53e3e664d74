package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Announcement is one key a contact announces.
type Announcement struct {
	Fingerprint string
	Date        time.Time // zero when the metadata gave none
	FirstSeen   time.Time
	LastSeen    time.Time
}

// SetAnnouncements records the keys that jid's metadata item itemID lists,
// replacing what was recorded for jid, in one transaction. Keys seen before
// keep their FirstSeen.
func (s *Store) SetAnnouncements(ctx context.Context, jid, itemID string, list []Announcement, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	n := now.Unix()
	keep := map[string]bool{}
	for _, a := range list {
		keep[a.Fingerprint] = true
		var date int64
		if !a.Date.IsZero() {
			date = a.Date.Unix()
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO announcements (jid, fpr, date, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid, fpr) DO UPDATE SET date = excluded.date, last_seen = excluded.last_seen`,
			jid, a.Fingerprint, date, n, n)
		if err != nil {
			return fmt.Errorf("store: record announcement: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT fpr FROM announcements WHERE jid = ?`, jid)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var gone []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return fmt.Errorf("store: %w", err)
		}
		if !keep[f] {
			gone = append(gone, f)
		}
	}
	rows.Close()
	for _, f := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM announcements WHERE jid = ? AND fpr = ?`, jid, f); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO metadata_fetches (jid, item_id, fetched) VALUES (?, ?, ?)
ON CONFLICT (jid) DO UPDATE SET item_id = excluded.item_id, fetched = excluded.fetched`, jid, itemID, n); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record announcements of %s: %w", jid, err)
	}
	return nil
}

// Announcements returns the keys recorded for jid, the metadata item they
// came from and when it was fetched; ErrNotFound when jid's metadata was
// never fetched.
func (s *Store) Announcements(ctx context.Context, jid string) ([]Announcement, string, time.Time, error) {
	var itemID string
	var fetched int64
	err := s.db.QueryRowContext(ctx, `SELECT item_id, fetched FROM metadata_fetches WHERE jid = ?`, jid).Scan(&itemID, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("store: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT fpr, date, first_seen, last_seen FROM announcements WHERE jid = ? ORDER BY first_seen, fpr`, jid)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Announcement
	for rows.Next() {
		var a Announcement
		var date, first, last int64
		if err := rows.Scan(&a.Fingerprint, &date, &first, &last); err != nil {
			return nil, "", time.Time{}, fmt.Errorf("store: %w", err)
		}
		if date != 0 {
			a.Date = time.Unix(date, 0).UTC()
		}
		a.FirstSeen, a.LastSeen = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
		out = append(out, a)
	}
	return out, itemID, time.Unix(fetched, 0).UTC(), rows.Err()
}

// IsAnnounced reports whether jid announces the key fpr.
func (s *Store) IsAnnounced(ctx context.Context, jid, fpr string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM announcements WHERE jid = ? AND fpr = ?`, jid, fpr).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return n > 0, nil
}
