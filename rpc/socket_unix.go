//go:build unix

package rpc

import (
	"os"
	"syscall"
)

// umask sets the process's file mode creation mask, returning the old.
func umask(m int) int { return syscall.Umask(m) }

// fileOwner is the user id that owns the file st describes.
func fileOwner(st os.FileInfo) (uint32, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return sys.Uid, true
}
