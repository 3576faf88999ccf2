package gateway

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// A detached gateway serves as long as the worker renews its lease, and ends by itself once
// the renewals stop (the sidecar died): it does not serve on alone.
func TestGatewayLease(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvLeaseMS: "400"})
	lease := filepath.Join(g.Dir, queue.LeaseFile)
	renewUntil := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(renewUntil) {
		if err := os.WriteFile(lease, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-g.Done:
			t.Fatalf("the gateway stopped while its lease was renewed: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case err := <-g.Done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		g.Done <- nil // for the cleanup's Stop
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway serves on with its lease run out")
	}
}
