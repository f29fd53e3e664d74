package store

// migrations are the schema, one numbered step each: migrations[i] takes a
// database from version i to version i+1 (PRAGMA user_version). A released
// step is never edited; a change is a new step at the end.
var migrations = []string{
	// 1: keys, with the indexes that lookups need.
	`
CREATE TABLE keys (
	fpr         TEXT PRIMARY KEY,   -- upper-case hex v4 fingerprint
	public      BLOB NOT NULL,      -- binary transferable public key
	secret      BLOB,               -- binary transferable secret key (own keys only)
	info        BLOB NOT NULL,      -- the backend's summary (JSON), so listing parses no key
	created     INTEGER NOT NULL,   -- unix seconds
	added       INTEGER NOT NULL,   -- unix seconds, first import
	updated     INTEGER NOT NULL    -- unix seconds, last change
) WITHOUT ROWID;
CREATE TABLE key_ids (               -- 64-bit key IDs of primary keys and subkeys
	keyid INTEGER NOT NULL,
	fpr   TEXT NOT NULL REFERENCES keys(fpr) ON DELETE CASCADE,
	PRIMARY KEY (keyid, fpr)
) WITHOUT ROWID;
CREATE INDEX key_ids_fpr ON key_ids(fpr);
CREATE TABLE user_ids (              -- "xmpp:" user IDs, normalised
	uid TEXT NOT NULL,
	fpr TEXT NOT NULL REFERENCES keys(fpr) ON DELETE CASCADE,
	PRIMARY KEY (uid, fpr)
) WITHOUT ROWID;
CREATE INDEX user_ids_fpr ON user_ids(fpr);
CREATE INDEX keys_secret ON keys(fpr) WHERE secret IS NOT NULL;
`,
	// 2: what contacts announce in their metadata node (XEP-0373 §4.2), so
	// that only what changed is fetched again.
	`
CREATE TABLE announcements (
	jid        TEXT NOT NULL,      -- bare, normalised
	fpr        TEXT NOT NULL,      -- upper-case hex v4 fingerprint
	date       INTEGER NOT NULL,   -- the entry's date attribute, unix seconds (0: absent)
	first_seen INTEGER NOT NULL,   -- unix seconds
	last_seen  INTEGER NOT NULL,   -- unix seconds: the last metadata that listed it
	PRIMARY KEY (jid, fpr)
) WITHOUT ROWID;
CREATE TABLE metadata_fetches (
	jid     TEXT PRIMARY KEY,      -- bare, normalised
	item_id TEXT NOT NULL,         -- the metadata item last read
	fetched INTEGER NOT NULL       -- unix seconds
) WITHOUT ROWID;
`,
	// 3: messages: what was already delivered (by the server's stanza-id, so
	// a message seen live, from the offline store and from the archive is
	// shown once), messages that cannot be read yet, and the archive cursor.
	`
CREATE TABLE delivered (
	stanza_id TEXT PRIMARY KEY,    -- XEP-0359 stanza-id assigned by the account's server
	at        INTEGER NOT NULL     -- unix seconds
) WITHOUT ROWID;
CREATE TABLE pending (
	id       INTEGER PRIMARY KEY,
	sender   TEXT NOT NULL,        -- bare JID
	stanza   BLOB NOT NULL,        -- the message as received
	received INTEGER NOT NULL,     -- unix seconds: when it arrived (its delivery time)
	reason   TEXT NOT NULL         -- why it could not be read yet
);
CREATE INDEX pending_sender ON pending(sender);
CREATE TABLE mam_cursor (
	archive TEXT PRIMARY KEY,      -- the archive's JID (the account)
	last_id TEXT NOT NULL          -- the last archive id processed
) WITHOUT ROWID;
`,
	// 4: trust decisions per (JID, key), with the history of every change,
	// and the policy per contact ('' = the account's default).
	`
CREATE TABLE trust (
	jid    TEXT NOT NULL,          -- bare, normalised
	fpr    TEXT NOT NULL,
	state  TEXT NOT NULL,          -- undecided, blind, verified, rejected
	since  INTEGER NOT NULL,       -- unix seconds
	reason TEXT NOT NULL,
	PRIMARY KEY (jid, fpr)
) WITHOUT ROWID;
CREATE TABLE trust_log (
	id     INTEGER PRIMARY KEY,
	jid    TEXT NOT NULL,
	fpr    TEXT NOT NULL,
	state  TEXT NOT NULL,          -- the new state, or an event: new, removed, expired, revoked
	at     INTEGER NOT NULL,
	reason TEXT NOT NULL
);
CREATE INDEX trust_log_jid ON trust_log(jid, id);
CREATE TABLE trust_policy (
	jid    TEXT PRIMARY KEY,       -- '' for the account's default
	policy TEXT NOT NULL
) WITHOUT ROWID;
`,
	// 5: certifications of the account's keys that contacts sent (the web
	// of trust over XMPP), until the user accepts (merges) or declines them.
	`
CREATE TABLE certifications (
	id        INTEGER PRIMARY KEY,
	from_jid  TEXT NOT NULL,       -- bare JID of the sender
	certifier TEXT NOT NULL,       -- fingerprint of the certifying key (the message's signer)
	target    TEXT NOT NULL,       -- fingerprint of the account's key it certifies
	key       BLOB NOT NULL,       -- the certified key as sent, binary
	digest    TEXT NOT NULL UNIQUE, -- SHA-256 of certifier, target and key: the same offer once
	received  INTEGER NOT NULL,    -- unix seconds
	state     TEXT NOT NULL,       -- pending, accepted, declined
	decided   INTEGER NOT NULL     -- unix seconds of the last change of state (received, at first)
);
CREATE INDEX certifications_target ON certifications(target, state);
`,
	// 6: the inbox, where incoming messages wait when the client's worker
	// is behind (they are read from there in order; nothing is dropped),
	// and the server's stanza-id of a pending message, so that a second
	// copy of it (offline store, archive, carbon) is not kept twice.
	`
CREATE TABLE inbox (
	id        INTEGER PRIMARY KEY,
	stanza    BLOB NOT NULL,       -- the message as received (unwrapped)
	meta      BLOB NOT NULL        -- how it arrived (JSON: origin, delivery time, stanza-id, sender)
);
ALTER TABLE pending ADD COLUMN stanza_id TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_stanza_id ON pending(stanza_id) WHERE stanza_id != '';
CREATE TABLE accepted (                -- signed messages accepted, to refuse a replay
	digest    TEXT PRIMARY KEY,        -- SHA-256 of the signer, the signature time and the signed content
	origin    TEXT NOT NULL,           -- how the first copy came (live, offline, carbon, archive, ...)
	stanza_id TEXT NOT NULL,           -- its server stanza-id, if any
	at        INTEGER NOT NULL         -- unix seconds, the signature time
) WITHOUT ROWID;
CREATE INDEX accepted_at ON accepted(at);
`,
	// 7: where a key came from outside PEP (a Web Key Directory), so that
	// 'ox cert refresh' can read it again from there.
	`
CREATE TABLE key_sources (
	jid       TEXT NOT NULL,       -- the bare JID the key was taken for
	fpr       TEXT NOT NULL,       -- the key's fingerprint
	source    TEXT NOT NULL,       -- "wkd"
	address   TEXT NOT NULL,       -- the mail address looked up
	fetched   INTEGER NOT NULL,    -- unix seconds of the last read
	PRIMARY KEY (jid, fpr, source)
) WITHOUT ROWID;
`,
	// 8: key rotations: the old key stays in use beside the new one until
	// the grace period ends, then is revoked as superseded.
	`
CREATE TABLE rotations (
	old_fpr     TEXT PRIMARY KEY,    -- the key being replaced
	new_fpr     TEXT NOT NULL,       -- the key replacing it
	started     INTEGER NOT NULL,    -- unix seconds
	until       INTEGER NOT NULL,    -- unix seconds: the end of the grace period
	finished    INTEGER NOT NULL DEFAULT 0 -- unix seconds when the old key was revoked; 0: not yet
) WITHOUT ROWID;
`,
	// 9: the daemon's journal: every line it hands to scripts, written with
	// the message's delivered record in one transaction, so that a daemon
	// killed at any moment neither loses nor repeats a line. A subscriber
	// reads on from its last seq, or from the first line never shown.
	`
CREATE TABLE journal (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,            -- unix seconds
	line   BLOB NOT NULL,               -- the feed line (JSON)
	shown  INTEGER NOT NULL DEFAULT 0   -- 1 once written to a subscriber
);
CREATE INDEX journal_unshown ON journal(seq) WHERE shown = 0;
`,
	// 10: accepted messages keyed by their signature time first: messages
	// come roughly in the order they were signed, so each insert lands on
	// the last page of one tree, where under the random digest it dirtied
	// a page of the table and another of its time index, both written
	// again at every commit (a third of the worker's store time in a
	// drain of waiting messages). The time index is the key itself now.
	`
CREATE TABLE accepted_by_time (
	at        INTEGER NOT NULL,        -- unix seconds, the signature time
	digest    TEXT NOT NULL,           -- SHA-256 of the signer, the signature time and the signed content
	origin    TEXT NOT NULL,           -- how the first copy came (live, offline, carbon, archive, ...)
	stanza_id TEXT NOT NULL,           -- its server stanza-id, if any
	PRIMARY KEY (at, digest)
) WITHOUT ROWID;
INSERT INTO accepted_by_time (at, digest, origin, stanza_id) SELECT at, digest, origin, stanza_id FROM accepted;
DROP TABLE accepted;
ALTER TABLE accepted_by_time RENAME TO accepted;
`,
}
