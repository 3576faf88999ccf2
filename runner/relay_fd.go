package runner

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// DefaultRelayFD is the descriptor on which the launcher hands the sidecar its end of the relay
// socket: the first one after stdin, stdout and stderr (Node's stdio[3]).
const DefaultRelayFD = 3

// OpenRelayFD takes over the inherited unix socket fd as the relay's connection.
//
// It checks the descriptor is a socket before touching it: when nobody passed one, that number
// may belong to the Go runtime (its epoll descriptor, say), which must be neither used nor
// closed. The socket is then duplicated close-on-exec and the inherited descriptor closed,
// because an inherited descriptor is not close-on-exec and every child the sidecar starts would
// otherwise get a channel to the parent that runs commands in the sandbox.
func OpenRelayFD(fd int) (net.Conn, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("relay fd %d: %w (start the sidecar through the npm launcher, which passes its relay socket there)", fd, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return nil, fmt.Errorf("relay fd %d is not a socket (start the sidecar through the npm launcher, which passes its relay socket there)", fd)
	}
	f := os.NewFile(uintptr(fd), "relay")
	c, err := net.FileConn(f) // a close-on-exec duplicate
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("relay fd %d: %w", fd, err)
	}
	if _, ok := c.(*net.UnixConn); !ok {
		_ = c.Close()
		return nil, fmt.Errorf("relay fd %d is not a unix socket", fd)
	}
	return c, nil
}
