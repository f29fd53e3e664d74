package store

import (
	"context"
	"fmt"
	"time"
)

// Rotation is one of the account's keys being replaced by another: both
// are announced and encrypted to until Until, then Old is revoked as
// superseded (Finished).
type Rotation struct {
	Old, New       string
	Started, Until time.Time
	Finished       time.Time // zero while the grace period runs
}

// AddRotation records that old is being replaced by new.
func (s *Store) AddRotation(ctx context.Context, r Rotation) error {
	_, err := s.exec(ctx, `
INSERT INTO rotations (old_fpr, new_fpr, started, until, finished) VALUES (?, ?, ?, ?, 0)
ON CONFLICT (old_fpr) DO UPDATE SET new_fpr = excluded.new_fpr, started = excluded.started, until = excluded.until, finished = 0`,
		r.Old, r.New, r.Started.Unix(), r.Until.Unix())
	if err != nil {
		return fmt.Errorf("store: record a rotation: %w", err)
	}
	return nil
}

// FinishRotation records that old was revoked at t.
func (s *Store) FinishRotation(ctx context.Context, old string, t time.Time) error {
	if _, err := s.exec(ctx, `UPDATE rotations SET finished = ? WHERE old_fpr = ?`, t.Unix(), old); err != nil {
		return fmt.Errorf("store: finish a rotation: %w", err)
	}
	return nil
}

// Rotations lists the rotations recorded, oldest first.
func (s *Store) Rotations(ctx context.Context) ([]Rotation, error) {
	rows, err := s.query(ctx, `SELECT old_fpr, new_fpr, started, until, finished FROM rotations ORDER BY started, old_fpr`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Rotation
	for rows.Next() {
		var r Rotation
		var started, until, finished int64
		if err := rows.Scan(&r.Old, &r.New, &started, &until, &finished); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		r.Started, r.Until = time.Unix(started, 0).UTC(), time.Unix(until, 0).UTC()
		if finished != 0 {
			r.Finished = time.Unix(finished, 0).UTC()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
