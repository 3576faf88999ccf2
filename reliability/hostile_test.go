package reliability

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostileTimeout is --upstream-timeout for the hostile-client tests; it
// is also the bridge's bound on a stalled request body.
const hostileTimeout = 3 * time.Second

// readHeaderTimeout is the bridge's http.Server.ReadHeaderTimeout
// (serve.go): a request head must arrive within it.
const readHeaderTimeout = 10 * time.Second

// promptLimit is how long a well-behaved request may take while others
// attack the bridge. A race-instrumented bridge is several times slower.
func promptLimit() time.Duration {
	if childRace() {
		return 5 * time.Second
	}
	// Two seconds, not milliseconds: the machine is shared, and one lost
	// SYN costs a second by itself. An attack that works holds requests
	// for the whole attack (here, seconds to minutes).
	return 2 * time.Second
}

// hostileFixture is a bridge with its upstream, for one hostile client.
func hostileFixture(t *testing.T) (*sidecar, *upstream) {
	t.Helper()
	token := newRunToken()
	up := startUpstream(t, token, 0)
	sc := startSidecar(t, up.addr, token, "--upstream-timeout", hostileTimeout.String())
	warmUp(t, sc)
	return sc, up
}

// probeFor sends well-behaved requests on fresh connections every 50 ms
// for d: each must succeed within promptLimit.
func probeFor(t *testing.T, sc *sidecar, d time.Duration) {
	t.Helper()
	var worst, worstDial time.Duration
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		start := time.Now()
		rc, err := dialRaw(sc.addr)
		dialed := time.Since(start)
		worstDial = max(worstDial, dialed)
		if err != nil {
			t.Errorf("probe %d: dial: %v", n, err)
			return
		}
		id := "probe-" + strconv.Itoa(n)
		r, err := rc.roundTrip(getReq(sc.key, getPath+"?req="+id), promptLimit())
		rc.Close()
		took := time.Since(start)
		worst = max(worst, took)
		if err != nil || r.status != 200 || echoed(r.body) != id || took > promptLimit() {
			t.Errorf("probe %d while under attack: %v %d %.100s (after %v, dial %v)", n, err, r.status, r.body, took, dialed)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d probes served while under attack, slowest %v (slowest connect %v)", n, worst.Round(time.Microsecond), worstDial.Round(time.Microsecond))
	if !sc.running() {
		t.Fatal("clipbridge exited")
	}
}

// closedWithin waits until the server closes c (a read returns an error)
// and reports how long that took, or false after bound.
func closedWithin(c net.Conn, bound time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(bound))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			if timedOut(err) {
				return time.Since(start), false
			}
			return time.Since(start), true
		}
	}
}

func TestHostileClients(t *testing.T) {
	t.Run("slowloris headers", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		g0, f0 := sc.goroutines(t), sc.fds(t)
		const n = 200
		start := time.Now()
		cut := trickle(t, sc.addr, n, []byte("GET "+getPath+"?req=loris HTTP/1.1\r\nHost: bridge\r\n"),
			[]byte("X-Slow: "+strings.Repeat("a", 1000)), 200*time.Millisecond)
		probeFor(t, sc, 3*time.Second)
		// Every trickled head is cut off at the server's header timeout.
		if latest, ok := cut.wait(t, readHeaderTimeout+5*time.Second-time.Since(start)); ok {
			t.Logf("%d trickled request heads cut off, the last %v after the start", n, latest.Round(time.Millisecond))
		}
		if up.arr.count("GET", "loris") != 0 {
			t.Errorf("an incomplete request head reached upstream")
		}
		expectSettled(t, sc, g0, f0)
	})

	t.Run("slowloris body without token", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		const n = 100
		head := "POST " + postPath + "?req=loris HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
		cut := trickle(t, sc.addr, n, []byte(head), []byte(`{"body":"`+strings.Repeat("a", 99980)+`"}`), 200*time.Millisecond)
		probeFor(t, sc, 3*time.Second)
		answered, slowest := cut.answered()
		if answered != n || slowest > promptLimit() {
			t.Errorf("%d of %d unauthenticated uploads answered, the slowest after %v; want all, within %v", answered, n, slowest, promptLimit())
		}
		if up.arr.count("POST", "loris") != 0 {
			t.Errorf("an unauthenticated upload reached upstream")
		}
		// Answering is not enough: a connection left open to read the rest
		// of a trickled body holds a goroutine and a descriptor for as
		// long as the client likes (100,000 bytes at 5 bytes/s: 5.5 h),
		// so any local process could pile them up.
		if latest, ok := cut.wait(t, hostileTimeout+requestMargin); ok {
			t.Logf("%d unauthenticated trickled uploads answered 401 within %v; connections closed by the bridge, the last %v after the start",
				answered, slowest.Round(time.Millisecond), latest.Round(time.Millisecond))
		}
	})

	t.Run("slowloris body with token", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		g0, f0 := sc.goroutines(t), sc.fds(t)
		const n = 16 // below --max-inflight: the agent hurting itself, not a flood
		var conns []net.Conn
		for i := range n {
			c, err := net.Dial("tcp", sc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			head := postReq(sc.key, postPath+"?req=trickle-"+strconv.Itoa(i), bytes.Repeat([]byte("a"), 1000))
			// Headers and the first half of the body now, the rest a byte
			// at a time, then nothing: a stall.
			if _, err := c.Write(head[:len(head)-500]); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		stopTrickle := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				for range 10 {
					select {
					case <-stopTrickle:
						return
					case <-time.After(200 * time.Millisecond):
					}
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			})
		}
		probeFor(t, sc, 2*time.Second)
		close(stopTrickle)
		wg.Wait()
		// Stalled: each must be answered or closed within the stall bound.
		stalled := time.Now()
		var open sync.WaitGroup
		var stuck atomic.Int64
		for _, c := range conns {
			open.Go(func() {
				if _, ok := answeredOrClosed(c, hostileTimeout+requestMargin); !ok {
					stuck.Add(1)
				}
			})
		}
		open.Wait()
		if k := stuck.Load(); k > 0 {
			t.Errorf("%d of %d stalled uploads got no answer and no close within %v of the stall (--upstream-timeout %v bounds a stalled body)",
				k, n, hostileTimeout+requestMargin, hostileTimeout)
		} else {
			t.Logf("%d stalled uploads ended within %v of the stall", n, time.Since(stalled).Round(time.Millisecond))
		}
		for i := range n {
			if k := up.arr.count("POST", "trickle-"+strconv.Itoa(i)); k != 0 {
				t.Errorf("stalled upload %d reached upstream as a complete request", i)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		expectSettled(t, sc, g0, f0)
	})

	t.Run("10000 headers", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		var b strings.Builder
		b.WriteString("GET " + getPath + "?req=many HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + sc.key + "\r\n")
		for i := range 10000 {
			fmt.Fprintf(&b, "X-H-%d: v\r\n", i)
		}
		b.WriteString("\r\n")
		expectRefusedHead(t, sc, []byte(b.String()))
		probeFor(t, sc, time.Second)
		if up.arr.count("GET", "many") != 0 {
			t.Error("the oversized head reached upstream")
		}
	})

	t.Run("1 MiB header line", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		req := "GET " + getPath + "?req=long HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + sc.key +
			"\r\nX-Long: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
		expectRefusedHead(t, sc, []byte(req))
		probeFor(t, sc, time.Second)
		if up.arr.count("GET", "long") != 0 {
			t.Error("the oversized head reached upstream")
		}
	})

	t.Run("pipelined requests", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		rc, err := dialRaw(sc.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		const n = 100
		var all []byte
		for i := range n {
			id := "pipe-" + strconv.Itoa(i)
			if i%2 == 0 {
				all = append(all, getReq(sc.key, getPath+"?req="+id)...)
			} else {
				all = append(all, postReq(sc.key, postPath+"?req="+id, []byte(`{}`))...)
			}
		}
		_ = rc.c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := rc.c.Write(all); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			id := "pipe-" + strconv.Itoa(i)
			method := map[bool]string{true: "GET", false: "POST"}[i%2 == 0]
			r, err := readReply(rc)
			if err != nil {
				t.Fatalf("pipelined answer %d: %v", i, err)
			}
			if c := classify(method, id, r); c != "ok" {
				t.Fatalf("pipelined answer %d: %s", i, c)
			}
			if k := up.arr.count(method, id); k != 1 {
				t.Errorf("%s %s reached upstream %d times", method, id, k)
			}
		}
		if extra := rc.leftover(100 * time.Millisecond); len(extra) > 0 {
			t.Errorf("%d bytes after the last pipelined answer", len(extra))
		}
	})

	t.Run("pipelined garbage", func(t *testing.T) {
		t.Parallel()
		sc, up := hostileFixture(t)
		garbage := make([]byte, 64<<10)
		_, _ = rand.Read(garbage)
		tlsHello := []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03}
		for _, tc := range []struct {
			name    string
			payload []byte
			firstOK bool
		}{
			{"valid then random bytes", append(getReq(sc.key, getPath+"?req=before-garbage"), garbage...), true},
			{"random bytes", garbage, false},
			{"tls client hello", tlsHello, false},
			{"bare newlines", bytes.Repeat([]byte("\r\n"), 10000), false},
			{"valid then a bad request line", append(getReq(sc.key, getPath+"?req=before-bad"), []byte("NOT A REQUEST\r\n\r\n")...), true},
		} {
			rc, err := dialRaw(sc.addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
			go func() { _, _ = rc.c.Write(tc.payload) }()
			if tc.firstOK {
				r, err := readReply(rc)
				if err != nil || r.status != 200 {
					t.Errorf("%s: the valid request before the garbage: %v %d", tc.name, err, r.status)
				}
			}
			// Then at most a 4xx, and the connection closes.
			if r, err := readReply(rc); err == nil && (r.status < 400 || r.status > 499) {
				t.Errorf("%s: garbage answered %d %.100s", tc.name, r.status, r.body)
			}
			if took, ok := closedWithin(rc.c, 5*time.Second); !ok {
				t.Errorf("%s: connection still open after %v", tc.name, took)
			}
			rc.Close()
		}
		probeFor(t, sc, time.Second)
		for _, id := range []string{"before-garbage", "before-bad"} {
			if k := up.arr.count("GET", id); k != 1 {
				t.Errorf("the valid request %s reached upstream %d times, want 1", id, k)
			}
		}
	})

	t.Run("client never reads", func(t *testing.T) {
		t.Parallel()
		sc, _ := hostileFixture(t)
		g0, f0 := sc.goroutines(t), sc.fds(t)
		var conns []net.Conn
		for i := range 8 {
			c, err := net.Dial("tcp", sc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Shrink the receive window so the bridge blocks soon, and
			// pipeline more than any socket buffer holds.
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			var b []byte
			for j := range 4 {
				b = append(b, getReq(sc.key, fmt.Sprintf("%s?req=noread-%d-%d", largePath, i, j))...)
			}
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		probeFor(t, sc, 3*time.Second)
		// The bridge bounds a stalled write to the agent by
		// --upstream-timeout: it must give up on these requests and close
		// its side while the clients still hold theirs, unread. (Reading
		// afterwards says little: the kernel keeps sending what the bridge
		// had queued, slowly, into the tiny window.)
		took, ok := inFlightDrained(t, sc, hostileTimeout+requestMargin)
		if !ok {
			t.Errorf("requests to never-reading clients still in flight %v after the probes", took)
		} else {
			t.Logf("the bridge gave up on %d never-reading connections %v after the probes", len(conns), took.Round(time.Millisecond))
		}
		expectSettled(t, sc, g0, f0)
		for _, c := range conns {
			c.Close()
		}
	})
}

// inFlightDrained waits up to bound for clipbridge_http_requests_in_flight
// to reach zero.
func inFlightDrained(t *testing.T, sc *sidecar, bound time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		if sc.metrics(t)["clipbridge_http_requests_in_flight"] == 0 {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tricklers are connections sending a request slowly. For each it
// records when the first byte of an answer came and when the server
// closed the connection.
type tricklers struct {
	start   time.Time
	n       int
	mu      sync.Mutex
	answers []time.Duration
	cuts    []time.Duration
	wg      sync.WaitGroup
}

// trickle opens n connections, sends head at once, then body one byte
// per interval, until the server closes the connection.
func trickle(t *testing.T, addr string, n int, head, body []byte, interval time.Duration) *tricklers {
	t.Helper()
	tr := &tricklers{start: time.Now(), n: n}
	// Cleanups run last-in first-out: the connections close first, which
	// ends the goroutines waited for here.
	t.Cleanup(tr.wg.Wait)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(head); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		tr.wg.Go(func() {
			buf := make([]byte, 4096)
			first := true
			for {
				k, err := c.Read(buf)
				if k > 0 && first {
					first = false
					tr.mu.Lock()
					tr.answers = append(tr.answers, time.Since(tr.start))
					tr.mu.Unlock()
				}
				if err != nil {
					break
				}
			}
			tr.mu.Lock()
			tr.cuts = append(tr.cuts, time.Since(tr.start))
			tr.mu.Unlock()
			close(closed)
		})
		tr.wg.Go(func() {
			for _, b := range body {
				select {
				case <-closed:
					return
				case <-time.After(interval):
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		})
	}
	return tr
}

// answered reports how many connections got an answer, and the latest.
func (tr *tricklers) answered() (int, time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.answers), maxDuration(tr.answers)
}

func (tr *tricklers) closedCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.cuts)
}

// wait waits up to bound for the server to close every trickler and
// returns when the last was cut; it fails the test for those still open
// and returns false.
func (tr *tricklers) wait(t *testing.T, bound time.Duration) (time.Duration, bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && tr.closedCount() < tr.n {
		time.Sleep(100 * time.Millisecond)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.cuts) < tr.n {
		t.Errorf("%d of %d trickling connections still open %v after the start", tr.n-len(tr.cuts), tr.n, time.Since(tr.start).Round(time.Millisecond))
		return time.Since(tr.start), false
	}
	return maxDuration(tr.cuts), true
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// expectRefusedHead sends an oversized request head: the bridge must
// refuse it with 431 (or reset the connection while the client is still
// writing, which loses that answer), and close the connection.
func expectRefusedHead(t *testing.T, sc *sidecar, req []byte) {
	t.Helper()
	rc, err := dialRaw(sc.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = rc.c.Write(req) }()
	r, err := readReply(rc)
	switch {
	case err == nil && r.status != 431:
		t.Errorf("oversized head answered %d %.100s, want 431", r.status, r.body)
	case err != nil && timedOut(err):
		t.Errorf("oversized head: no answer and no close within 10 s")
	case err != nil:
		t.Logf("oversized head: connection reset before the answer could be read (%v)", err)
	}
}

// readReply reads one response off rc (after its request was written).
func readReply(rc *rawConn) (reply, error) {
	return rc.roundTrip(nil, 10*time.Second)
}

// answeredOrClosed waits for an answer or a close on c.
func answeredOrClosed(c net.Conn, bound time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(bound))
	var buf [1]byte
	_, err := c.Read(buf[:])
	return time.Since(start), err == nil || !timedOut(err)
}
