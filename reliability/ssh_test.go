package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
)

// sshSidecar runs clipbridge in SSH mode against a real loopback sshd:
// the agent's URL (sc.addr) is a port of that sshd, forwarded to the
// bridge over one SSH connection.
func sshSidecar(t *testing.T, upstream, token string, args ...string) (*sidecar, *realsshd.Server) {
	t.Helper()
	srv := realsshd.StartT(t, realsshd.Config{})
	dir := t.TempDir()
	key, kh := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, srv.ClientKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"CLIPBRIDGE_SSH_HOST=" + srv.Host,
		"CLIPBRIDGE_SSH_PORT=" + strconv.Itoa(srv.Port),
		"CLIPBRIDGE_SSH_USER=" + srv.User,
		"CLIPBRIDGE_SSH_KEY_FILE=" + key,
		"CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE=" + kh,
	}
	return startSidecarEnv(t, upstream, token, env, args...), srv
}

// TestLoadThousandConnectionsSSH is the load case through the SSH remote
// forward: 1,000 concurrent keep-alive connections to the port on the
// execution host, 20,000 requests, zero errors, and no goroutine or
// descriptor growth in the bridge afterwards.
func TestLoadThousandConnectionsSSH(t *testing.T) {
	const conns, perConn = 1000, 20
	token := newRunToken()
	up := startUpstream(t, token, 0)
	sc, _ := sshSidecar(t, up.addr, token, "--max-inflight", "1000")
	warmUp(t, sc)
	g0, f0 := sc.goroutines(t), sc.fds(t)
	start := time.Now()
	var failures atomic.Int64
	var mu sync.Mutex
	var samples []string
	runConnections(t, sc.addr, conns, func(c int, rc *rawConn) {
		for i := range perConn {
			id := fmt.Sprintf("c%d-%d", c, i)
			r, err := rc.roundTrip(getReq(sc.key, getPath+"?req="+id), 60*time.Second)
			if err != nil || r.status != 200 || echoed(r.body) != id {
				failures.Add(1)
				mu.Lock()
				if len(samples) < 10 {
					samples = append(samples, fmt.Sprintf("%s: %v %d %.80s", id, err, r.status, r.body))
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	})
	took := time.Since(start)
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed, e.g.:\n%v", n, conns*perConn, samples)
	}
	t.Logf("%d requests over %d forwarded connections in %v (%.0f req/s)", conns*perConn, conns,
		took.Round(time.Millisecond), float64(conns*perConn)/took.Seconds())
	expectSettled(t, sc, g0, f0)
}

// TestSSHConnectionKilled kills the sshd processes serving the bridge's
// SSH connection every 10 s under a mixed load through the forward. While
// the tunnel is down nothing answers on the forwarded port, and requests
// in flight lose their connection: the transport is gone, so no status
// can come back. What must hold: no request hangs past its bound, none is
// answered twice, no mutation reaches upstream twice, connection failures
// happen only around the kills, and the forward comes back on the same
// port each time.
func TestSSHConnectionKilled(t *testing.T) {
	token := newRunToken()
	up := startUpstream(t, token, 10*time.Millisecond)
	sc, srv := sshSidecar(t, up.addr, token, "--upstream-timeout", faultTimeout.String())
	warmUp(t, sc)

	const total = 25 * time.Second
	kills := []time.Duration{5 * time.Second, 15 * time.Second}
	// How long after a kill connection failures are expected: the
	// bridge notices at once (the TCP connection closes), then
	// reconnects with backoff.
	const recovery = 5 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), total)
	defer cancel()
	load := &mixedLoad{addr: sc.addr, key: sc.key, workers: 16, limit: faultTimeout + requestMargin, pause: time.Millisecond}
	done := make(chan []outcome)
	go func() { done <- load.run(ctx) }()
	for _, at := range kills {
		time.Sleep(at - elapsedSince(ctx, total))
		pids, err := srv.SessionPIDs()
		if err != nil || len(pids) == 0 {
			t.Errorf("no sshd session to kill at %v: %v", at, err)
			continue
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	outs := <-done

	var transport, late []outcome
	kept := outs[:0:0]
	for _, o := range outs {
		if o.status == 0 && !timedOutClass(o.class) {
			if nearAny(o, kills, recovery) {
				transport = append(transport, o)
				continue
			}
			late = append(late, o)
		}
		kept = append(kept, o)
	}
	checkOutcomes(t, kept, up.arr)
	t.Logf("%d requests lost their connection within %v of a kill (expected: the tunnel was down)", len(transport), recovery)
	for _, o := range late[:min(len(late), 5)] {
		t.Errorf("connection failure away from any kill: %s %s at %v: %s", o.method, o.id, o.start.Round(time.Millisecond), o.class)
	}
	// A mutation that lost its connection must still not have run twice.
	for _, o := range transport {
		if o.method == "POST" && up.arr.count("POST", o.id) > 1 {
			t.Errorf("POST %s reached upstream %d times", o.id, up.arr.count("POST", o.id))
		}
	}
	for _, at := range kills {
		if okAfter(outs, at+recovery) == 0 {
			t.Errorf("nothing succeeded after the kill at %v", at)
		}
	}
	if n := countWindow(outs, kills[len(kills)-1]+recovery, total); n == 0 {
		t.Errorf("no successful request in the last %v: the forward did not come back", total-kills[len(kills)-1]-recovery)
	}
	if !sc.running() {
		t.Fatal("clipbridge exited")
	}
	if v := sc.metrics(t)["clipbridge_tunnel_reconnects_total"]; v < float64(len(kills)) {
		t.Errorf("clipbridge_tunnel_reconnects_total = %v, want at least %d", v, len(kills))
	}
}

// nearAny reports whether o started or was in flight in [kill, kill+d)
// for some kill.
func nearAny(o outcome, kills []time.Duration, d time.Duration) bool {
	for _, k := range kills {
		if o.start+o.took >= k && o.start < k+d {
			return true
		}
	}
	return false
}

func timedOutClass(c string) bool { return len(c) >= 4 && c[:4] == "hung" }

// countWindow counts successes that started in [from, to).
func countWindow(outs []outcome, from, to time.Duration) int {
	n := 0
	for _, o := range outs {
		if o.class == "ok" && o.start >= from && o.start < to {
			n++
		}
	}
	return n
}
