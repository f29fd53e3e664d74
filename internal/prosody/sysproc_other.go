//go:build !linux

package prosody

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
