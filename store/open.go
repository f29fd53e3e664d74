package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// appID is the SQLite application_id of an ox database ("oxdb"): it tells
// an ox database from any other SQLite file on open. Databases made before
// it was set are recognised by their schema and get it on their next open.
const appID = 0x6f786462

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// NotOxDatabaseError: the file at Path exists but is not an ox database
// (empty, not SQLite, or another program's SQLite database). Open leaves
// it as it is.
type NotOxDatabaseError struct {
	Path   string
	Reason string // "it is empty", "it is not a SQLite database", ...
}

func (e *NotOxDatabaseError) Error() string {
	return fmt.Sprintf("store: %s is not an ox database: %s", e.Path, e.Reason)
}

// Hint says what to do; ox prints it under the error.
func (e *NotOxDatabaseError) Hint() string {
	return "ox changed nothing; restore the file from a backup, or move it away to start a new account (a new key)"
}

// Open opens the ox database at path and brings its schema up to date. A
// path that does not exist gets a new database (mode 0600), made aside and
// moved into place only once complete, so a crash never leaves a
// half-made file that a later open would take for an account. An existing
// file must be an ox database of a version this ox knows: an empty file,
// garbage, another program's SQLite database (*NotOxDatabaseError) or a
// newer ox's (ErrTooNew) is refused without a byte written to it.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if err := create(ctx, path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := sniff(path); err != nil {
		return nil, err
	}
	// No journal_mode in the DSN: setting it writes to the file, which
	// waits until the file is known to be ours. secure_delete zeroes what
	// is deleted or replaced, such as a secret key stored unprotected
	// before it was given a passphrase. Transactions begin IMMEDIATE: they
	// read and then write, and a deferred one that finds another writer
	// at its first write fails at once (SQLITE_BUSY) instead of waiting
	// busy_timeout, as happened when a key-change notification and a
	// command wrote one contact's list together.
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	marked, err := identify(ctx, db, path)
	if err != nil {
		db.Close()
		return nil, err
	}
	// WAL is a property of the file: once set, every connection uses it.
	// The -wal and -shm files take the database file's mode in SQLite.
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !marked {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", appID)); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	return s, nil
}

// create makes a new, complete database at path: in a temporary file of
// the same directory, linked to path only when its schema is written. If
// another process made path meanwhile, its database is kept and this one
// dropped.
func create(ctx context.Context, path string) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp := path + ".new-" + hex.EncodeToString(rnd[:])
	defer os.Remove(tmp)
	// Create the file ourselves so that it is 0600 from the first byte;
	// SQLite would create it with the umask's mode.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	err = migrateTo(ctx, db, len(migrations))
	if err == nil {
		_, err = db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", appID))
	}
	if cerr := db.Close(); err == nil {
		err = cerr // the close checkpoints the WAL into the file
	}
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	// A link, unlike a rename, never replaces a file that appeared since.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	return nil
}

// sniff refuses a file that cannot be a SQLite database, before SQLite,
// which takes an empty file for a new database, sees it.
func sniff(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return &NotOxDatabaseError{Path: path, Reason: "it is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF), err == nil && !bytes.Equal(head, sqliteMagic):
		return &NotOxDatabaseError{Path: path, Reason: "it is not a SQLite database"}
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// identify checks, reading only, that db is an ox database this ox can
// open: ox's application_id (marked: Open need not set it), or (made
// before ox set it) no application_id, a known schema version, and the
// tables that version has.
func identify(ctx context.Context, db *sql.DB, path string) (marked bool, err error) {
	var app, v int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return false, &NotOxDatabaseError{Path: path, Reason: "SQLite cannot read it (" + err.Error() + ")"}
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, &NotOxDatabaseError{Path: path, Reason: "SQLite cannot read it (" + err.Error() + ")"}
	}
	switch {
	case app == appID && v > int64(len(migrations)):
		return false, fmt.Errorf("%w (%s: version %d, this ox knows %d): upgrade ox", ErrTooNew, path, v, len(migrations))
	case app == appID:
		return true, nil
	case app != 0:
		return false, &NotOxDatabaseError{Path: path, Reason: fmt.Sprintf("it is another program's SQLite database (application_id %#x)", uint32(app))}
	case v == 0 || v > int64(len(migrations)):
		// Every ox database has a version; one without an application_id
		// was made by an ox that knew at most these migrations.
		return false, &NotOxDatabaseError{Path: path, Reason: fmt.Sprintf("it is a SQLite database without ox's schema (version %d)", v)}
	}
	want, err := tablesAt(ctx, int(v))
	if err != nil {
		return false, err
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return false, &NotOxDatabaseError{Path: path, Reason: "SQLite cannot read it (" + err.Error() + ")"}
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	for _, t := range want {
		if !have[t] {
			return false, &NotOxDatabaseError{Path: path, Reason: fmt.Sprintf("it is a SQLite database without ox's table %q", t)}
		}
	}
	return false, nil
}

// tablesAt lists the tables of a database at schema version v, from the
// migrations themselves run in memory, so the list cannot drift from them.
func tablesAt(ctx context.Context, v int) ([]string, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	if err := migrateTo(ctx, db, v); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}
