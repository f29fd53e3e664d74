package wkdtest

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to nginx if the test process
// dies without stopping it, so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
