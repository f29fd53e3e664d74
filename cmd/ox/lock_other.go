//go:build !unix

package main

import (
	"errors"
	"os"
)

// lockFile is not available here: a session is resumed within its process
// only.
func lockFile(*os.File) error { return errors.ErrUnsupported }
