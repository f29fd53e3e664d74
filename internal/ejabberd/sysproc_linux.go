package ejabberd

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to the Erlang VM if the test process
// dies without calling Stop (a panic, a go test timeout, SIGKILL), so no
// server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
