package ejabberd

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr makes the kernel send SIGTERM to the Erlang VM if the test
// process dies without calling Stop (a panic, a go test timeout, SIGKILL),
// so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// endHelpers waits, at most a second, until the VM's helper processes
// (erl_child_setup, and memsup, which ejabberd's memory watchdog needs and
// which runs in a session of its own) have gone; they exit by themselves a
// few ms after the VM. They are found by marker, the server's private
// directory, in their environment (HOME), which only processes this package
// started carry; whatever is still there after half a second gets SIGKILL.
func endHelpers(marker string) {
	m := []byte("HOME=" + marker + "\x00")
	for i := 0; i < 100; i++ {
		pids := helpers(m)
		if len(pids) == 0 {
			return
		}
		if i == 50 {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func helpers(marker []byte) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}
