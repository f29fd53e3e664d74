//go:build darwin || freebsd

package rpc

import "golang.org/x/sys/unix"

// peerUID is the user id of the peer of the Unix socket fd
// (LOCAL_PEERCRED).
func peerUID(fd uintptr) (uint32, error) {
	cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
