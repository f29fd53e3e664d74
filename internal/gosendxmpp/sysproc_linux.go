package gosendxmpp

import "syscall"

// sysProcAttr makes the kernel kill go-sendxmpp if the test process dies
// without stopping it (a panic, a go test timeout, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
