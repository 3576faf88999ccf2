package sshconn

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clipbridge/clipbridge/internal/memlisten"
)

// rttRecorder is a prometheus.Observer that remembers when it was called.
type rttRecorder struct {
	mu    sync.Mutex
	count int
	last  time.Time
}

func (r *rttRecorder) Observe(float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	r.last = time.Now()
}

func (r *rttRecorder) snapshot() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count, r.last
}

// dialPipe connects to f's server over an in-memory pipe, so the whole
// exchange runs on synctest's fake clock.
func dialPipe(t *testing.T, f *fixture, o Options) *Conn {
	t.Helper()
	o.DialContext = func(context.Context, string, string) (net.Conn, error) {
		client, server := memlisten.Pipe()
		f.srv.Handle(server)
		return client, nil
	}
	c, err := Dial(t.Context(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

func TestKeepaliveDeclaresSilentLinkDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newServer(t)
		defer f.srv.Close()
		f.host, f.port = "127.0.0.1", 22
		rtt := &rttRecorder{}
		o := f.options()
		o.KeepaliveRTT = rtt // defaults: every 5 s, dead after 3 × 5 s
		c := dialPipe(t, f, o)
		defer c.Close()

		time.Sleep(12 * time.Second)
		answered, lastReply := rtt.snapshot()
		if answered != 2 {
			t.Fatalf("after 12 s: %d keepalives answered, want 2 (at 5 s and 10 s)", answered)
		}
		// The server goes silent; its requests never return, so only the
		// deadline timer can notice.
		f.srv.SetDropKeepalives(true)
		<-c.Done()
		silent := time.Since(lastReply)
		t.Logf("declared dead %s after the last keepalive answer", silent)
		if silent != 15*time.Second {
			t.Errorf("declared dead %s after the last answer, want exactly 15s (3 × 5s)", silent)
		}
		if KindOf(c.Err()) != KindLinkDead || !strings.Contains(c.Err().Error(), "no answer to keepalives") {
			t.Errorf("Err() = %v, want a KindLinkDead keepalive error", c.Err())
		}
		// Every user of the connection now fails instead of hanging.
		if _, err := c.Client().NewSession(); err == nil {
			t.Error("NewSession on a dead link succeeded")
		}
	})
}

func TestKeepaliveKeepsHealthyLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newServer(t)
		defer f.srv.Close()
		f.host, f.port = "127.0.0.1", 22
		rtt := &rttRecorder{}
		o := f.options()
		o.KeepaliveRTT = rtt
		o.KeepaliveInterval, o.KeepaliveMax = time.Second, 2
		c := dialPipe(t, f, o)
		defer c.Close()
		time.Sleep(time.Minute + time.Millisecond)
		select {
		case <-c.Done():
			t.Fatalf("healthy link declared dead: %v", c.Err())
		default:
		}
		if n, _ := rtt.snapshot(); n != 60 {
			t.Errorf("%d keepalives answered in 60 s, want 60", n)
		}
	})
}

func TestConnReportsServerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newServer(t)
		defer f.srv.Close()
		f.host, f.port = "127.0.0.1", 22
		c := dialPipe(t, f, f.options())
		defer c.Close()
		// The client's handshake can finish before the server has
		// registered the connection; closing then would close nothing,
		// and the healthy link would keepalive through fake time
		// forever. Once every goroutine is blocked, it is registered.
		synctest.Wait()
		if n := f.srv.ConnCount(); n != 1 {
			t.Fatalf("server has %d connections, want 1", n)
		}
		f.srv.CloseConns()
		<-c.Done()
		if KindOf(c.Err()) != KindLinkDead || !strings.Contains(c.Err().Error(), "connection closed") {
			t.Errorf("Err() = %v, want KindLinkDead connection closed", c.Err())
		}
	})
}

func TestConnCloseIsQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newServer(t)
		defer f.srv.Close()
		f.host, f.port = "127.0.0.1", 22
		c := dialPipe(t, f, f.options())
		_ = c.Close()
		<-c.Done()
		if c.Err() != nil {
			t.Errorf("Err() after Close = %v, want nil", c.Err())
		}
		_ = c.Close() // idempotent
	})
}
