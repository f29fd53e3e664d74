package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/muc"
)

// resumeKeeper keeps the resumption of a session that stays online
// (XEP-0198 §5, ox.Account.SaveResumption) in the account's directory,
// so that a listen or daemon that dies without closing its session (a
// SIGKILL, a crash, a power cut) and starts again takes that session over:
// the server kept it for a while, and what it held for the dead process
// comes to the new one instead of going nowhere (ejabberd delivers to the
// kept session, and drops its queue when it times out while the account
// has another session). A lock held while the process runs tells a kept
// resumption from one in use: a second listen for the account neither
// takes the first's session nor saves its own. Beside the resumption it
// keeps the rooms the session is in (seats): the process that takes the
// session over joins them again (muc.Rooms.Reenter).
type resumeKeeper struct {
	path string
	lock *os.File

	mu    sync.Mutex
	f     *os.File // path, open for writing once a resumption is saved
	size  int      // the longest record written to it
	seats []byte   // the rooms as last written to path+".rooms"
}

// roomSeat is a room the account is in and its nick there, as JSON: in
// the keeper's record of rooms, and in the daemon's status.
type roomSeat struct {
	Room string `json:"room"`
	Nick string `json:"nick"`
}

// keepResumption is the keeper for the current account, or nil when
// another process holds it or it cannot be had (then sessions are resumed
// within the process only).
func (e *env) keepResumption() *resumeKeeper {
	_, dir, err := e.whichAccount()
	if err != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "resume.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil
	}
	return &resumeKeeper{path: filepath.Join(dir, "resume"), lock: f}
}

// load is the resumption a process that died left, or nil.
func (k *resumeKeeper) load(warn func(string)) *ox.Resumption {
	if k == nil {
		return nil
	}
	b, err := os.ReadFile(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		var r *ox.Resumption
		if r, err = ox.ParseResumption(b); err == nil {
			return r
		}
	}
	warn(fmt.Sprintf("could not read %s, so the session of an earlier run is not taken over: %v", k.path, err))
	return nil
}

// roomSeats are seats as JSON ([] for none).
func roomSeats(seats []muc.Seat) []roomSeat {
	out := make([]roomSeat, 0, len(seats))
	for _, s := range seats {
		out = append(out, roomSeat{Room: s.Room.String(), Nick: s.Nick})
	}
	return out
}

// loadSeats are the rooms that the session of the resumption load gives
// was in, as the process that left it wrote them.
func (k *resumeKeeper) loadSeats(warn func(string)) []muc.Seat {
	if k == nil {
		return nil
	}
	b, err := os.ReadFile(k.path + ".rooms")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var recs []roomSeat
	if err == nil {
		err = json.Unmarshal(b, &recs)
	}
	var seats []muc.Seat
	for _, r := range recs {
		room, perr := jid.Parse(r.Room)
		if perr != nil || r.Nick == "" {
			err = fmt.Errorf("a room %q, nick %q", r.Room, r.Nick)
			break
		}
		seats = append(seats, muc.Seat{Room: room, Nick: r.Nick})
	}
	if err != nil {
		warn(fmt.Sprintf("could not read %s.rooms, so the rooms the session of an earlier run was in are not joined again: %v", k.path, err))
		return nil
	}
	return seats
}

// saveSeats keeps the rooms the session is in (muc.Rooms.OnChange) when
// they change: written whole to a new file that then replaces the record.
func (k *resumeKeeper) saveSeats(seats []muc.Seat) {
	b, err := json.Marshal(roomSeats(seats))
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if bytes.Equal(b, k.seats) {
		return
	}
	tmp := k.path + ".rooms.new"
	if os.WriteFile(tmp, b, 0o600) == nil && os.Rename(tmp, k.path+".rooms") == nil {
		k.seats = b
	}
}

// savedAt is when the resumption load gives was last saved (the session
// acknowledged what it had read): about when the process that left it
// stopped reading; zero if none was.
func (k *resumeKeeper) savedAt() time.Time {
	if k == nil {
		return time.Time{}
	}
	st, err := os.Stat(k.path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// seatSaver is saveSeats, or nil without a keeper.
func (k *resumeKeeper) seatSaver() func([]muc.Seat) {
	if k == nil {
		return nil
	}
	return k.saveSeats
}

// save keeps r (Account.SaveResumption), before each acknowledgement the
// session sends: one write at the start of a file kept open, padded with
// spaces over a longer record before it, rather than a truncation and a
// write (a process killed between the two left an empty file) and the
// opening and closing of the file each time. A failed write leaves the
// one before, which at worst the server refuses.
func (k *resumeKeeper) save(r *ox.Resumption) {
	b, err := r.MarshalText()
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f == nil {
		if k.f, err = os.OpenFile(k.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			k.f = nil
			return
		}
	}
	if len(b) < k.size {
		b = append(b, bytes.Repeat([]byte(" "), k.size-len(b))...)
	}
	if _, err := k.f.WriteAt(b, 0); err == nil {
		k.size = len(b)
	}
}

// saver is save, or nil without a keeper.
func (k *resumeKeeper) saver() func(*ox.Resumption) {
	if k == nil {
		return nil
	}
	return k.save
}

// close forgets the resumption (the session was closed, or is another
// process's) and lets the lock go.
func (k *resumeKeeper) close() {
	if k == nil {
		return
	}
	os.Remove(k.path)
	os.Remove(k.path + ".rooms")
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f != nil {
		k.f.Close()
	}
	k.lock.Close()
}
