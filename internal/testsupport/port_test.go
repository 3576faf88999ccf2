package testsupport

import (
	"net"
	"strconv"
	"testing"
)

// The port is on loopback and free: it can be bound, and until then it
// refuses connections.
func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("port = %d", port)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatalf("something listens on %s", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %d not bindable: %v", port, err)
	}
	_ = ln.Close()
}
