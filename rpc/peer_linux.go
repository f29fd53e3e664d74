package rpc

import "syscall"

// peerUID is the user id of the peer of the Unix socket fd (SO_PEERCRED).
func peerUID(fd uintptr) (uint32, error) {
	cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
