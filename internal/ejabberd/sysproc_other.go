//go:build !linux

package ejabberd

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

func endHelpers(string) {}
