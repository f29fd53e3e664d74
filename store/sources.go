package store

import (
	"context"
	"fmt"
	"time"
)

// KeySource says where a key held for a JID came from when that was not
// the JID's PEP nodes: a Web Key Directory lookup of a mail address.
type KeySource struct {
	JID, Fingerprint string
	Source           string // "wkd"
	Address          string // the mail address looked up
	Fetched          time.Time
}

// SetKeySource records (or updates) where a key came from.
func (s *Store) SetKeySource(ctx context.Context, k KeySource) error {
	_, err := s.exec(ctx, `
INSERT INTO key_sources (jid, fpr, source, address, fetched) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid, fpr, source) DO UPDATE SET address = excluded.address, fetched = excluded.fetched`,
		k.JID, k.Fingerprint, k.Source, k.Address, k.Fetched.Unix())
	if err != nil {
		return fmt.Errorf("store: record a key's source: %w", err)
	}
	return nil
}

// KeySources lists every recorded source, by JID then fingerprint.
func (s *Store) KeySources(ctx context.Context) ([]KeySource, error) {
	rows, err := s.query(ctx, `SELECT jid, fpr, source, address, fetched FROM key_sources ORDER BY jid, fpr, source`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []KeySource
	for rows.Next() {
		var k KeySource
		var at int64
		if err := rows.Scan(&k.JID, &k.Fingerprint, &k.Source, &k.Address, &at); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		k.Fetched = time.Unix(at, 0).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// AnnouncingJIDs lists the JIDs whose PEP key lists are recorded (those
// ox fetched keys from), sorted.
func (s *Store) AnnouncingJIDs(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT jid FROM announcements ORDER BY jid`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
