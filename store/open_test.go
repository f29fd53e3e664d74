package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A file that is there but is not an ox database is refused, and left
// byte for byte as it was: an empty ox.db must not become a new account.
func TestOpenRefusesWhatIsNotAnOxDatabase(t *testing.T) {
	ctx := context.Background()
	foreign := func(t *testing.T, path, setup string) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(setup); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, reason string
		make         func(t *testing.T, path string)
	}{
		{"empty", "it is empty", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }},
		{"garbage", "it is not a SQLite database", func(t *testing.T, p string) {
			os.WriteFile(p, bytes.Repeat([]byte("not a database\n"), 100), 0o600)
		}},
		{"short", "it is not a SQLite database", func(t *testing.T, p string) { os.WriteFile(p, []byte("SQLite"), 0o600) }},
		{"damaged header", "SQLite cannot read it", func(t *testing.T, p string) {
			os.WriteFile(p, append(append([]byte{}, sqliteMagic...), bytes.Repeat([]byte{0xff}, 4000)...), 0o600)
		}},
		{"foreign", "without ox's schema (version 0)", func(t *testing.T, p string) {
			foreign(t, p, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
		}},
		{"foreign with a version", "without ox's table \"keys\"", func(t *testing.T, p string) {
			foreign(t, p, "CREATE TABLE notes (id INTEGER PRIMARY KEY); PRAGMA user_version = 1")
		}},
		{"another application", "another program's SQLite database (application_id 0x5ca1ab1e)", func(t *testing.T, p string) {
			foreign(t, p, "CREATE TABLE keys (x); PRAGMA application_id = 1554098974; PRAGMA user_version = 3")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ox.db")
			c.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			var ne *NotOxDatabaseError
			if !errors.As(err, &ne) || ne.Path != path {
				t.Fatalf("got %v, want a *NotOxDatabaseError", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(c.reason)) {
				t.Errorf("error %q does not say %q", err, c.reason)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(before, after) {
				t.Errorf("the file changed (%d -> %d bytes, %v)", len(before), len(after), err)
			}
			if m, _ := filepath.Glob(path + "*"); len(m) != 1 {
				t.Errorf("files beside it: %v", m)
			}
		})
	}
}

// A database of an ox from before the application_id (schema at some
// older version, no application_id) opens, is migrated, and is marked.
func TestOpenAdoptsAnOlderOxDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ox.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO keys VALUES ('F1', x'01', NULL, x'7b7d', 1, 1, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountKeys(ctx); err != nil || n != 1 {
		t.Errorf("keys %d %v, want the one stored", n, err)
	}
	var app int64
	if err := s.db.QueryRow("PRAGMA application_id").Scan(&app); err != nil || app != appID {
		t.Errorf("application_id %#x %v", app, err)
	}
	if v, _ := s.Version(ctx); v != LatestVersion() {
		t.Errorf("version %d", v)
	}
}

// A new database is made whole beside the path and linked into place: no
// temporary file stays, and opening it again is an ordinary open.
func TestOpenCreatesCompleteDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ox.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if m, _ := filepath.Glob(filepath.Join(dir, "ox.db.new-*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
