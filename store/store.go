package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// ErrNotFound: no such record.
var ErrNotFound = errors.New("store: not found")

// ErrTooNew: the database was written by a newer ox.
var ErrTooNew = errors.New("store: database schema is newer than this ox")

// Store is one account's database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string

	// stmts are the prepared read queries, by query text. Unprepared,
	// SQLite compiles a query on every run, which costs more than the
	// indexed lookup itself (issue 5: the keyring's key-ID lookups were a
	// quarter of opening a message).
	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	ann annCache // IsAnnounced's answers
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for q, st := range s.stmts {
		st.Close()
		delete(s.stmts, q)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// prepared returns the prepared statement for q, preparing it the first time.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = make(map[string]*sql.Stmt)
	}
	s.stmts[q] = st
	return st, nil
}

// queryRow is QueryRowContext with a prepared statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return s.db.QueryRowContext(ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a prepared read query returning rows.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a prepared write.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Version is the schema version of the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// LatestVersion is the schema version this ox writes.
func LatestVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	return migrateTo(ctx, s.db, len(migrations))
}

// migrateTo applies migrations up to version target, each in its own
// transaction together with the version bump, so a crash leaves a database
// at one version or the next, never between.
func migrateTo(ctx context.Context, db *sql.DB, target int) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("%w (version %d, this ox knows %d): upgrade ox", ErrTooNew, v, len(migrations))
	}
	for ; v < target; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %d: %w", v+1, err)
		}
	}
	return nil
}

// Key is a stored key as the backend gave it.
type Key struct {
	Fingerprint string // upper-case hex
	Public      []byte
	Secret      []byte // nil for a contact's certificate
	Info        []byte
	Created     time.Time
	Added       time.Time
	Updated     time.Time
	KeyIDs      []uint64 // primary key and subkeys
	UserIDs     []string // the "xmpp:" user IDs to index
}

// PutKey inserts or replaces a key and its indexes in one transaction. A
// nil Secret keeps a secret already stored: a public certificate never
// erases an own key's secret part.
func (s *Store) PutKey(ctx context.Context, k *Key) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	_, err = tx.ExecContext(ctx, `
INSERT INTO keys (fpr, public, secret, info, created, added, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fpr) DO UPDATE SET
	public = excluded.public,
	secret = COALESCE(excluded.secret, keys.secret),
	info = excluded.info,
	created = excluded.created,
	updated = excluded.updated`,
		k.Fingerprint, k.Public, nullBytes(k.Secret), k.Info, k.Created.Unix(), now, now)
	if err != nil {
		return fmt.Errorf("store: put key %s: %w", k.Fingerprint, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM key_ids WHERE fpr = ?`, k.Fingerprint); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_ids WHERE fpr = ?`, k.Fingerprint); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, id := range k.KeyIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO key_ids (keyid, fpr) VALUES (?, ?)`, int64(id), k.Fingerprint); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	for _, uid := range k.UserIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO user_ids (uid, fpr) VALUES (?, ?)`, uid, k.Fingerprint); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: put key %s: %w", k.Fingerprint, err)
	}
	return nil
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

const keyCols = `fpr, public, secret, info, created, added, updated`

func scanKey(sc interface{ Scan(...any) error }) (*Key, error) {
	var k Key
	var created, added, updated int64
	if err := sc.Scan(&k.Fingerprint, &k.Public, &k.Secret, &k.Info, &created, &added, &updated); err != nil {
		return nil, err
	}
	k.Created, k.Added, k.Updated = time.Unix(created, 0), time.Unix(added, 0), time.Unix(updated, 0)
	return &k, nil
}

// GetKey returns the key with fingerprint fpr, or ErrNotFound.
func (s *Store) GetKey(ctx context.Context, fpr string) (*Key, error) {
	k, err := scanKey(s.queryRow(ctx, `SELECT `+keyCols+` FROM keys WHERE fpr = ?`, fpr))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get key %s: %w", fpr, err)
	}
	return k, nil
}

// KeysByKeyID returns the keys having a primary key or subkey with that key ID.
func (s *Store) KeysByKeyID(ctx context.Context, id uint64) ([]*Key, error) {
	return s.queryKeys(ctx, `SELECT `+prefixed("k.", keyCols)+` FROM key_ids i JOIN keys k ON k.fpr = i.fpr WHERE i.keyid = ?`, int64(id))
}

// KeysByUserID returns the keys indexed under the user ID uid.
func (s *Store) KeysByUserID(ctx context.Context, uid string) ([]*Key, error) {
	return s.queryKeys(ctx, `SELECT `+prefixed("k.", keyCols)+` FROM user_ids u JOIN keys k ON k.fpr = u.fpr WHERE u.uid = ? ORDER BY k.created DESC`, uid)
}

// SecretKeys returns the keys that have a secret part.
func (s *Store) SecretKeys(ctx context.Context) ([]*Key, error) {
	return s.queryKeys(ctx, `SELECT `+keyCols+` FROM keys WHERE secret IS NOT NULL ORDER BY created DESC`)
}

// AllKeys returns every key, in fingerprint order.
func (s *Store) AllKeys(ctx context.Context) ([]*Key, error) {
	return s.queryKeys(ctx, `SELECT `+keyCols+` FROM keys ORDER BY fpr`)
}

// CountKeys counts the stored keys.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM keys`).Scan(&n)
	return n, err
}

// DeleteKey removes a key and its indexes.
func (s *Store) DeleteKey(ctx context.Context, fpr string) error {
	res, err := s.exec(ctx, `DELETE FROM keys WHERE fpr = ?`, fpr)
	if err != nil {
		return fmt.Errorf("store: delete key %s: %w", fpr, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) queryKeys(ctx context.Context, q string, args ...any) ([]*Key, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []*Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
