//go:build unix

package main

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f without waiting; the system lets
// it go when the process ends, however it ends.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// shareLock takes a shared lock on f without waiting, and says whether
// no other process held one: it first takes an exclusive lock, which
// only a file no one else has locked gives, then makes it shared.
func shareLock(f *os.File) (first bool, err error) {
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return true, syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB)
	}
	return false, syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB)
}

// waitLock takes an exclusive lock on f, waiting for the process that
// holds it to let it go.
func waitLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}
