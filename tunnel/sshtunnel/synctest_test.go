package sshtunnel

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/memlisten"
	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/internal/sshserver"
)

// memNet runs the in-process SSH server over in-memory pipes, with its
// forwarded ports as in-memory listeners, so a whole tunnel runs on
// testing/synctest's fake clock.
type memNet struct {
	mu       sync.Mutex
	forwards map[int]*memlisten.Listener
	failDial bool
	dials    []time.Time
	p        *inproc
}

func newMemNet(t *testing.T) *memNet {
	m := &memNet{forwards: map[int]*memlisten.Listener{}}
	m.p = newInproc(t, func(o *sshserver.Options) {
		o.ListenForward = func(_, addr string) (net.Listener, error) {
			_, portStr, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(portStr)
			if port == 0 {
				port = 40022
			}
			ml := memlisten.New(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			m.mu.Lock()
			m.forwards[port] = ml
			m.mu.Unlock()
			return ml, nil
		}
	})
	m.p.addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	return m
}

func (m *memNet) dial(context.Context, string, string) (net.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dials = append(m.dials, time.Now())
	if m.failDial {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	client, server := memlisten.Pipe()
	m.p.srv.Handle(server)
	return client, nil
}

func (m *memNet) setFailDial(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failDial = v
}

func (m *memNet) dialTimes() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Time(nil), m.dials...)
}

// get sends one request to a forwarded port through its in-memory listener.
func (m *memNet) get(t *testing.T, port int) int {
	t.Helper()
	m.mu.Lock()
	ml := m.forwards[port]
	m.mu.Unlock()
	tr := &http.Transport{
		DialContext:       func(context.Context, string, string) (net.Conn, error) { return ml.Dial() },
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "http://tunnel/api/agents/me", nil)
	req.Header.Set("Authorization", "Bearer "+bridgeToken)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET through the tunnel: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKeepaliveDetectionAndBackoffTiming follows one outage on the fake
// clock: the server goes silent, the tunnel declares the link dead exactly
// 15 s after the last keepalive answer (defaults: 3 × 5 s), then retries at
// 250 ms, 500 ms, 1 s, 2 s and 4 s intervals until the host is back, and
// serves on the same port again.
func TestKeepaliveDetectionAndBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemNet(t)
		defer m.p.srv.Close()
		o := m.p.sshOptions()
		o.DialContext = m.dial
		reg := prometheus.NewRegistry()
		tun, err := New(Options{SSH: o, Server: serverFor(&recorder{}), Registerer: reg,
			Backoff: retry.Backoff{Rand: func() float64 { return 0.5 }}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		runDone := make(chan error, 1)
		go func() { runDone <- tun.Run(ctx) }()
		<-tun.Ready()
		connected := time.Now()
		port := int(tun.RemoteAddr().Port())
		if code := m.get(t, port); code != 200 {
			t.Fatalf("GET = %d", code)
		}

		// The keepalive at +5 s is answered; then the host goes silent and
		// stops accepting connections.
		time.Sleep(5*time.Second + 500*time.Millisecond)
		m.setFailDial(true)
		m.p.srv.SetDropKeepalives(true)
		lastAnswer := connected.Add(5 * time.Second)

		time.Sleep(time.Until(lastAnswer.Add(15*time.Second)) - time.Millisecond)
		if !tun.Up() {
			t.Fatalf("declared dead %s after the last answer, want 15s", time.Since(lastAnswer))
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if tun.Up() {
			t.Fatal("still up 15s after the last keepalive answer")
		}
		down := time.Now().Add(-time.Millisecond)

		// Five refused attempts, then the host comes back.
		for len(m.dialTimes()) < 1+5 {
			time.Sleep(50 * time.Millisecond)
		}
		m.setFailDial(false)
		for !tun.Up() {
			time.Sleep(50 * time.Millisecond)
		}
		dials := m.dialTimes()[1:]
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
			4 * time.Second, 8 * time.Second}
		prev := down
		for i, d := range dials {
			if got := d.Sub(prev); got != want[i] {
				t.Errorf("attempt %d came %s after the previous event, want %s", i+1, got, want[i])
			}
			prev = d
		}
		t.Logf("fake clock: dead 15s after the last answer; attempts at %v", want[:len(dials)])
		if int(tun.RemoteAddr().Port()) != port {
			t.Fatalf("port changed: %d -> %d", port, tun.RemoteAddr().Port())
		}
		if code := m.get(t, port); code != 200 {
			t.Fatalf("GET after reconnect = %d", code)
		}
		if v := metricValue(t, reg, "clipbridge_tunnel_reconnects_total"); v != 1 {
			t.Errorf("reconnects_total = %v, want 1", v)
		}
		if v := metricValue(t, reg, "clipbridge_tunnel_keepalive_rtt_seconds"); v != 1 {
			t.Errorf("keepalive RTT samples = %v, want 1 (the answer at +5s)", v)
		}
		cancel()
		if err := <-runDone; err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}
