package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	defer s.ann.forget(jid) // after the commit, or the rollback
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
	err := s.queryRow(ctx, `SELECT item_id, fetched FROM metadata_fetches WHERE jid = ?`, jid).Scan(&itemID, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("store: %w", err)
	}
	rows, err := s.query(ctx, `SELECT fpr, date, first_seen, last_seen FROM announcements WHERE jid = ? ORDER BY first_seen, fpr`, jid)
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
//
// Every received message asks this, so the answers are kept in memory per
// JID (issue 5: the query was a tenth of a whole decrypt+verify). What this
// Store writes replaces them at once; what another process writes to the
// same database (the ox command beside a running ox listen) is seen within
// announcedTTL.
func (s *Store) IsAnnounced(ctx context.Context, jid, fpr string) (bool, error) {
	if fprs, ok := s.ann.get(jid); ok {
		return slices.Contains(fprs, fpr), nil
	}
	gen := s.ann.generation()
	rows, err := s.query(ctx, `SELECT fpr FROM announcements WHERE jid = ?`, jid)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	fprs := []string{}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		fprs = append(fprs, f)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	s.ann.put(jid, fprs, gen)
	return slices.Contains(fprs, fpr), nil
}

// announcedTTL bounds how long IsAnnounced trusts its memory of a JID's
// announcements that another process may have changed.
const announcedTTL = 30 * time.Second

// annNow is the clock of IsAnnounced's memory (tests move it).
var annNow = time.Now

// annCache is IsAnnounced's memory: the announced fingerprints per JID.
type annCache struct {
	mu  sync.Mutex
	gen uint64 // bumped by every write, so a read that raced one is not kept
	m   map[string]annEntry
}

type annEntry struct {
	fprs []string
	at   time.Time
}

func (c *annCache) get(jid string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[jid]
	if !ok || annNow().Sub(e.at) > announcedTTL {
		return nil, false
	}
	return e.fprs, true
}

func (c *annCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *annCache) put(jid string, fprs []string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // written since the read began
	}
	if c.m == nil || len(c.m) >= 10000 {
		c.m = make(map[string]annEntry)
	}
	c.m[jid] = annEntry{fprs: fprs, at: annNow()}
}

func (c *annCache) forget(jid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, jid)
}
