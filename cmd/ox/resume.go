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
// resumption from one in use: a process that starts while another holds
// it (a daemon started while a listen ran alone) neither takes the other's
// session nor saves its own until the other lets the lock go; then it
// takes the lock at once and keeps its own from then on (a listen hands
// over to the daemon, which is to outlive a crash too). Beside the
// resumption it keeps the rooms the session is in (seats): the process
// that takes the session over joins them again (muc.Rooms.Reenter).
type resumeKeeper struct {
	path string
	// late: another process held the lock when this one started, so
	// there is nothing of an earlier run to take over.
	late bool

	held chan struct{} // closed once this process holds the lock

	mu      sync.Mutex
	lock    *os.File // held while this process keeps its session; nil until a late keeper has it
	closed  bool
	f       *os.File // path, open for writing once a resumption is saved
	size    int      // the longest record written to it
	seats   []byte   // the rooms as last written to path+".rooms"
	latest  []byte   // the rooms as last told (saveSeats), written or not
	latestR []byte   // the resumption as last told (save), written or not
}

// roomSeat is a room the account is in and its nick there, as JSON: in
// the keeper's record of rooms, and in the daemon's status.
type roomSeat struct {
	Room string `json:"room"`
	Nick string `json:"nick"`
}

// keepResumption is the keeper for the current account, or nil when it
// cannot be had (then sessions are resumed within the process only). One
// made while another process holds the lock is late: it waits for the
// lock (await), and takes nothing over.
func (e *env) keepResumption() *resumeKeeper {
	_, dir, err := e.whichAccount()
	if err != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "resume.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	k := &resumeKeeper{path: filepath.Join(dir, "resume"), held: make(chan struct{})}
	if err := lockFile(f); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			f.Close()
			return nil
		}
		// Another process holds it: this one waits for it.
		k.late = true
		go k.await(f)
		return k
	}
	k.lock = f
	close(k.held)
	return k
}

// await waits for the lock on f, which another process holds; once it
// has it, this process keeps its session: the resumption and the rooms
// as last told are written. What a process that let the lock go without
// a clean end (killed) left is not this session's.
func (k *resumeKeeper) await(f *os.File) {
	err := waitLock(f)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil || k.closed {
		f.Close()
		return
	}
	k.lock = f
	if k.latestR != nil {
		k.writeResumption(k.latestR)
	} else {
		os.Remove(k.path)
	}
	if k.latest != nil {
		k.writeSeats(k.latest)
	} else {
		os.Remove(k.path + ".rooms")
	}
	close(k.held)
}

// load is the resumption a process that died left, or nil.
func (k *resumeKeeper) load(warn func(string)) *ox.Resumption {
	if k == nil || k.late {
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
	if k == nil || k.late {
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
	k.latest = b
	if k.lock == nil || bytes.Equal(b, k.seats) {
		return
	}
	k.writeSeats(b)
}

// writeSeats writes the rooms b. k.mu is held.
func (k *resumeKeeper) writeSeats(b []byte) {
	tmp := k.path + ".rooms.new"
	if os.WriteFile(tmp, b, 0o600) == nil && os.Rename(tmp, k.path+".rooms") == nil {
		k.seats = b
	}
}

// savedAt is when the resumption load gives was last saved (the session
// acknowledged what it had read): about when the process that left it
// stopped reading; zero if none was.
func (k *resumeKeeper) savedAt() time.Time {
	if k == nil || k.late {
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
	k.latestR = b
	if k.lock != nil {
		k.writeResumption(b)
	}
}

// writeResumption writes the resumption b. k.mu is held.
func (k *resumeKeeper) writeResumption(b []byte) {
	if k.f == nil {
		var err error
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
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.lock == nil {
		return // the files are another process's
	}
	os.Remove(k.path)
	os.Remove(k.path + ".rooms")
	if k.f != nil {
		k.f.Close()
	}
	k.lock.Close()
}
