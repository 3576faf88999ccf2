package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts deadline changes.
type countingConn struct {
	net.Conn
	reads, writes int
}

func (c *countingConn) SetReadDeadline(time.Time) error  { c.reads++; return nil }
func (c *countingConn) SetWriteDeadline(time.Time) error { c.writes++; return nil }

// Pushing a stall deadline forward many times in quick succession changes
// the connection's deadline once, and again once the slack has passed.
func TestStallDeadlinesPushedLazily(t *testing.T) {
	cc := &countingConn{}
	pc := &upConn{Conn: cc}
	const timeout = 160 * time.Millisecond // slack 10 ms
	for range 100 {
		pc.pushRead(timeout)
		pc.pushWrite(timeout)
	}
	if cc.reads != 1 || cc.writes != 1 {
		t.Fatalf("%d read and %d write deadline changes for 100 pushes each, want 1 and 1", cc.reads, cc.writes)
	}
	time.Sleep(stallSlack(timeout) + 5*time.Millisecond)
	pc.pushRead(timeout)
	pc.pushWrite(timeout)
	if cc.reads != 2 || cc.writes != 2 {
		t.Fatalf("deadlines not pushed after the slack: %d, %d", cc.reads, cc.writes)
	}
	if got := stallSlack(30 * time.Second); got != time.Second {
		t.Fatalf("slack for 30 s = %v, want the 1 s cap", got)
	}
}

// A request on a reused connection still gets its stall bound: upstream
// answers the first call and stalls on the second, which ends in 504
// after at least timeout-slack and well before twice the timeout.
func TestStallBoundOnReusedConnection(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = w.Write([]byte(`{}`))
	})
	defer close(release)
	const timeout = 400 * time.Millisecond
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = timeout })
	if got := b.do(t, "GET", "/api/agents/me", nil, nil).StatusCode; got != 200 {
		t.Fatalf("first call %d", got)
	}
	start := time.Now()
	got := b.do(t, "GET", "/api/agents/me", nil, nil).StatusCode
	took := time.Since(start)
	if got != http.StatusGatewayTimeout || took < timeout-stallSlack(timeout) || took > 2*timeout {
		t.Fatalf("stalled call: %d after %v, want 504 after about %v", got, took, timeout)
	}
}

// A read deadline that expires while a connection sits in the pool does
// not make the liveness probe drop a healthy connection.
func TestExpiredDeadlineInPoolKeepsConnection(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = 100 * time.Millisecond })
	for i := range 2 {
		if got := b.do(t, "GET", "/api/agents/me", nil, nil).StatusCode; got != 200 {
			t.Fatalf("call %d: %d", i, got)
		}
		// Past the stall deadline and past the age that triggers a probe.
		time.Sleep(livenessAfter + 100*time.Millisecond)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections, want 1 (the pooled one reused)", n)
	}
}
