//go:build !linux && !darwin && !freebsd

package rpc

// peerUID is not known here: the socket's mode (0600, in a directory of
// mode 0700) is what keeps other users out.
func peerUID(uintptr) (uint32, error) { return 0, ErrPeerUnknown }
