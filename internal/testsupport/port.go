package testsupport

import (
	"net"
	"testing"
)

// LoopbackPort returns a port on 127.0.0.1 that was free a moment ago, for
// programs that must be told a port rather than bind port 0 and report it
// (sshd, nginx, a sidecar's --remote-listen). Another process can take it
// in between; callers that cannot tolerate that retry with a new one.
func LoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreePort is LoopbackPort for a test: it fails the test if no port can be
// had. With nothing listening on it, the port also serves as one that
// refuses connections.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := LoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
