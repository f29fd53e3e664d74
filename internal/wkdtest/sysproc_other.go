//go:build !linux

package wkdtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
