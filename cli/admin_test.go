package cli

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// brokenListener accepts nothing: its Accept fails for good, as a
// listener whose socket was closed under it does.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: broken") }

// An admin listener that stops serving is an error of the run, not a
// silent loss of /metrics and /readyz.
func TestRunAdminReportsServeFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		done <- runAdmin(adminServer(prometheus.NewRegistry(), &readiness{}, nil), brokenListener{ln}, make(chan struct{}))
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "admin listener") {
			t.Fatalf("runAdmin = %v, want the admin listener's failure", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runAdmin did not return after its listener broke")
	}
}

// Once the transport has drained, the admin server stops, and that is
// no error.
func TestRunAdminStopsAfterDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runAdmin(adminServer(prometheus.NewRegistry(), &readiness{}, nil), ln, drained) }()
	close(drained)
	if err := <-done; err != nil {
		t.Fatalf("runAdmin = %v", err)
	}
}
