// Package store is the embedded SQLite database of one ox account
// (modernc.org/sqlite: pure Go, no cgo). It holds the account's own secret
// keys and its contacts' certificates as binary OpenPGP, indexed by
// fingerprint, by key ID and by user ID, so that a lookup costs the same with
// ten keys or a hundred thousand, and opening the store parses no key.
//
// The database is opened in WAL mode, created with file mode 0600, and its
// schema is advanced by numbered migrations (see migrations.go). Open makes
// a new database only where no file is: an existing file must carry ox's
// SQLite application_id (or, from before it, ox's schema), so an emptied,
// damaged or foreign file is refused (*NotOxDatabaseError) rather than
// taken for a new account (see open.go).
//
// The store knows nothing of OpenPGP: it keeps what the backend gives it
// (key bytes and an opaque summary) under the indexes the backend names.
package store
