package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A pooled connection that upstream closed while it sat idle (Node closes
// after 5 s) is noticed before reuse, so a mutation is sent on a fresh
// connection and succeeds instead of ending indeterminate.
func TestIdleConnectionClosedByUpstream(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	up.Config.IdleTimeout = 100 * time.Millisecond
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	b := newBridge(t, up.URL, nil)
	post := func() int {
		return b.do(t, "POST", "/api/issues/i1/checkout", nil, nil).StatusCode
	}
	if got := post(); got != 200 {
		t.Fatalf("first POST %d", got)
	}
	time.Sleep(700 * time.Millisecond) // upstream closes the idle conn meanwhile
	if got := post(); got != 200 {
		t.Fatalf("POST after upstream closed the idle connection: %d", got)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d upstream connections, want 2 (the closed one dropped)", n)
	}
}

// keepAliveThenClose answers each request with a complete keep-alive
// response and then closes the connection anyway, so the bridge's next
// request on it meets a dead connection that looked alive.
func keepAliveThenClose(t *testing.T, requests *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptEach(ln, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		requests.Add(1)
		req.Body.Close()
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"))
		time.Sleep(20 * time.Millisecond) // let the bridge pool it first
	})
	return "http://" + ln.Addr().String()
}

func TestStalePooledConnection(t *testing.T) {
	var requests atomic.Int32
	b := newBridge(t, keepAliveThenClose(t, &requests), nil)

	t.Run("safe method retried once on a fresh connection", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			resp := b.do(t, "GET", "/api/agents/me", nil, nil)
			if body := readBody(t, resp); resp.StatusCode != 200 || body != `{"ok":true}` {
				t.Fatalf("GET %d: %d %s", i, resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("mutation never retried", func(t *testing.T) {
		before := requests.Load()
		b.do(t, "POST", "/api/issues/i1/checkout", nil, nil) // pools a connection that then dies
		time.Sleep(50 * time.Millisecond)
		resp := b.do(t, "POST", "/api/issues/i1/checkout", nil, nil)
		body := readBody(t, resp)
		if resp.StatusCode != 409 && resp.StatusCode != 200 {
			t.Fatalf("second POST: %d %s", resp.StatusCode, body)
		}
		if resp.StatusCode == 409 && !strings.Contains(body, `"outcome":"indeterminate"`) {
			t.Fatalf("409 without the indeterminate outcome: %s", body)
		}
		if got := requests.Load() - before; got > 2 {
			t.Fatalf("upstream saw %d requests for 2 POSTs: a mutation was retried", got)
		}
	})
}

// Idle connections are closed once they pass the idle timeout, even when
// no further request comes to notice them.
func TestIdleConnectionsReaped(t *testing.T) {
	var open atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	b := newBridge(t, up.URL, nil)
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest("GET", b.URL+"/api/agents/me", nil)
			req.Header.Set("Authorization", "Bearer "+testBridgeToken)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	if open.Load() == 0 {
		t.Fatal("no upstream connection was pooled")
	}
	deadline := time.Now().Add(upstreamIdleTimeout + 2*time.Second)
	for open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream connections still open %v after the last request", open.Load(), upstreamIdleTimeout+2*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
