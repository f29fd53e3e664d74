package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoDaemon: no daemon listens on the socket (none was started, or it
// ended); callers then do the work themselves.
var ErrNoDaemon = errors.New("rpc: no daemon is running")

// ErrRunning: a daemon already listens on the socket.
var ErrRunning = errors.New("rpc: a daemon is already running for this account")

// ForeignError: the socket, or a peer, belongs to another user.
type ForeignError struct {
	Path string
	UID  uint32
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("rpc: %s belongs to another user (uid %d), not to you (uid %d); it is not used", e.Path, e.UID, os.Getuid())
}

// SocketDir is where the daemons' sockets are: $XDG_RUNTIME_DIR/ox, or
// without it /tmp/ox-UID.
func SocketDir(runtimeDir string) string {
	if runtimeDir == "" {
		return filepath.Join(os.TempDir(), "ox-"+strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(runtimeDir, "ox")
}

// SocketPath is the socket of account's daemon for the account directory
// dir: ACCOUNT-HASH.sock in SocketDir, HASH being the first 8 hex digits of
// SHA-256 over dir, so two homes with the same account do not meet.
func SocketPath(runtimeDir, account, dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	sum := sha256.Sum256([]byte(abs))
	name := strings.NewReplacer("/", "_", string(os.PathSeparator), "_").Replace(account)
	return filepath.Join(SocketDir(runtimeDir), name+"-"+hex.EncodeToString(sum[:4])+".sock")
}

// Listen makes the socket at path: its directory with mode 0700 (made if
// missing, refused if another user owns it), the socket with mode 0600. A
// socket left by a daemon that ended is replaced; one a daemon answers on
// is ErrRunning.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if err := ownedByMe(dir); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("rpc: %s exists and is not a socket; move it away", path)
		}
		if err := ownedByMe(path); err != nil {
			return nil, err
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w (%s)", ErrRunning, path)
		}
		os.Remove(path) // left by a daemon that ended
	}
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("rpc: %w", err)
	}
	return l, nil
}

func ownedByMe(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	if uid, ok := fileOwner(st); ok && uid != uint32(os.Getuid()) {
		return &ForeignError{Path: path, UID: uid}
	}
	return nil
}

// WriteTimeout bounds each write to a peer: a client that stops reading
// is dropped rather than holding the daemon back.
const WriteTimeout = 30 * time.Second

type deadlineWriter struct{ c net.Conn }

func (w deadlineWriter) Write(b []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return w.c.Write(b)
}

// DialRaw connects to the daemon at path: ErrNoDaemon when none answers
// (no socket, or one left by a daemon that ended), a *ForeignError when the
// socket is another user's. Dial wraps it in a Client; ox jsonrpc passes
// lines through it.
func DialRaw(path string) (*net.UnixConn, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoDaemon
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("rpc: %s is not a socket", path)
	}
	if err := ownedByMe(path); err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		var se syscall.Errno
		if errors.As(err, &se) && (se == syscall.ECONNREFUSED || se == syscall.ENOENT) {
			return nil, ErrNoDaemon
		}
		return nil, fmt.Errorf("rpc: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// Dial connects to the daemon at path, as DialRaw, with a Client.
func Dial(path string) (*Client, error) {
	c, err := DialRaw(path)
	if err != nil {
		return nil, err
	}
	return NewClient(c), nil
}

// ErrPeerUnknown: the system does not tell a Unix socket's peer (not
// Linux, macOS or FreeBSD); the socket's mode keeps other users out.
var ErrPeerUnknown = errors.New("rpc: this system does not tell who is at the other end of a Unix socket")

// PeerUID is the user id of the process at the other end of a Unix socket
// connection (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and FreeBSD;
// elsewhere ErrPeerUnknown).
func PeerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("rpc: not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid uint32
	var cerr error
	if err := raw.Control(func(fd uintptr) { uid, cerr = peerUID(fd) }); err != nil {
		return 0, err
	}
	return uid, cerr
}

// Serve accepts connections on l until ctx ends or l is closed, and serves
// each with s. A peer whose user id is not owner gets one CodePermission
// error and is closed: it can neither read nor change anything.
func (s *Server) Serve(ctx context.Context, l net.Listener, owner uint32) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("rpc: %w", err)
		}
		go func() {
			defer nc.Close()
			c := NewConn(deadlineWriter{nc}, nc.Close)
			uid, err := PeerUID(nc)
			if errors.Is(err, ErrPeerUnknown) {
				uid, err = owner, nil // the socket's mode keeps others out
			}
			if err != nil || uid != owner {
				c.write(response{JSONRPC: Version, ID: json.RawMessage("null"), Error: Errorf(CodePermission, "this daemon serves uid %d only, not uid %d", owner, uid)})
				c.once.Do(func() { close(c.done) })
				return
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			closeOnEnd := context.AfterFunc(cctx, func() { nc.Close() })
			defer closeOnEnd()
			s.ServeConn(cctx, c, nc)
		}()
	}
}
