//go:build !unix

package main

import (
	"errors"
	"os"
)

// lockFile is not available here: a session is resumed within its process
// only.
func lockFile(*os.File) error { return errors.ErrUnsupported }

// shareLock is not available here: no other listen is told of.
func shareLock(*os.File) (bool, error) { return true, errors.ErrUnsupported }

// waitLock is not available here.
func waitLock(*os.File) error { return errors.ErrUnsupported }
