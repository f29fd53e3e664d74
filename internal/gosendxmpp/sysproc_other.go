//go:build !linux

package gosendxmpp

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
