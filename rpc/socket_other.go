//go:build !unix

package rpc

import "os"

// umask does nothing here: files have no Unix modes.
func umask(int) int { return 0 }

// fileOwner is not known here: files have no Unix owner.
func fileOwner(os.FileInfo) (uint32, bool) { return 0, false }
