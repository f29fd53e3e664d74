package main

import (
	"database/sql"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// damagekey DB changes one byte of every secret key stored in the account
// database DB, as a failing disk would (damaged.txtar).
func damageKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: damagekey DB")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	rows, err := db.Query(`SELECT fpr, secret FROM keys WHERE secret IS NOT NULL`)
	ts.Check(err)
	damaged := map[string][]byte{}
	for rows.Next() {
		var fpr string
		var sec []byte
		ts.Check(rows.Scan(&fpr, &sec))
		sec[1] ^= 0x55 // the packet's length: the key no longer parses
		damaged[fpr] = sec
	}
	ts.Check(rows.Err())
	rows.Close()
	if len(damaged) == 0 {
		ts.Fatalf("%s holds no secret key", args[0])
	}
	for fpr, sec := range damaged {
		_, err = db.Exec(`UPDATE keys SET secret = ? WHERE fpr = ?`, sec, fpr)
		ts.Check(err)
	}
}
