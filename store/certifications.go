package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The states of a certification offer.
const (
	CertificationPending  = "pending"
	CertificationAccepted = "accepted"
	CertificationDeclined = "declined"
)

// Certification is a certification of one of the account's keys that a
// contact sent: the certified key as it came, and what the user made of it.
type Certification struct {
	ID        int64
	From      string // bare JID of the sender
	Certifier string // fingerprint of the certifying key
	Target    string // fingerprint of the account's key
	Key       []byte
	Received  time.Time
	State     string // CertificationPending, ...Accepted, ...Declined
	Decided   time.Time
}

func certificationDigest(c *Certification) string {
	h := sha256.New()
	h.Write([]byte(c.Certifier + "\x00" + c.Target + "\x00"))
	h.Write(c.Key)
	return hex.EncodeToString(h.Sum(nil))
}

// AddCertification keeps an offer as pending. The same offer (certifier,
// target and key alike) is kept once: added is false when it was there
// already, and id is that of the one kept.
func (s *Store) AddCertification(ctx context.Context, c Certification) (id int64, added bool, err error) {
	d := certificationDigest(&c)
	res, err := s.exec(ctx, `INSERT OR IGNORE INTO certifications (from_jid, certifier, target, key, digest, received, state, decided)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.From, c.Certifier, c.Target, c.Key, d, c.Received.Unix(), CertificationPending, c.Received.Unix())
	if err != nil {
		return 0, false, fmt.Errorf("store: keep certification: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		id, err := res.LastInsertId()
		return id, true, err
	}
	if err := s.queryRow(ctx, `SELECT id FROM certifications WHERE digest = ?`, d).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("store: %w", err)
	}
	return id, false, nil
}

const certificationCols = `id, from_jid, certifier, target, key, received, state, decided`

func scanCertification(sc interface{ Scan(...any) error }) (Certification, error) {
	var c Certification
	var received, decided int64
	if err := sc.Scan(&c.ID, &c.From, &c.Certifier, &c.Target, &c.Key, &received, &c.State, &decided); err != nil {
		return c, err
	}
	c.Received, c.Decided = time.Unix(received, 0).UTC(), time.Unix(decided, 0).UTC()
	return c, nil
}

// CertificationByID returns an offer, or ErrNotFound.
func (s *Store) CertificationByID(ctx context.Context, id int64) (Certification, error) {
	c, err := scanCertification(s.queryRow(ctx, `SELECT `+certificationCols+` FROM certifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: certification %d", ErrNotFound, id)
	}
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	return c, nil
}

// Certifications returns every offer kept, oldest first.
func (s *Store) Certifications(ctx context.Context) ([]Certification, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+certificationCols+` FROM certifications ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Certification
	for rows.Next() {
		c, err := scanCertification(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetCertificationState records the user's decision about an offer.
func (s *Store) SetCertificationState(ctx context.Context, id int64, state string, at time.Time) error {
	switch state {
	case CertificationPending, CertificationAccepted, CertificationDeclined:
	default:
		return fmt.Errorf("store: unknown certification state %q", state)
	}
	res, err := s.exec(ctx, `UPDATE certifications SET state = ?, decided = ? WHERE id = ?`, state, at.Unix(), id)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: certification %d", ErrNotFound, id)
	}
	return nil
}

// AnyKeyID reports whether a key is stored that has a primary key or
// subkey with one of the key IDs (the issuers of a key's certifications:
// is any of them known now?), in one query per 500 IDs.
func (s *Store) AnyKeyID(ctx context.Context, ids []uint64) (bool, error) {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = int64(id)
		}
		q := `SELECT EXISTS (SELECT 1 FROM key_ids WHERE keyid IN (?` + strings.Repeat(", ?", n-1) + `))`
		var found bool
		if err := s.db.QueryRowContext(ctx, q, args...).Scan(&found); err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		if found {
			return true, nil
		}
		ids = ids[n:]
	}
	return false, nil
}
