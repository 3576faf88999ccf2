package reliability

import (
	"context"
	"testing"
	"time"
)

// faultTimeout is the bridge's --upstream-timeout in the fault tests:
// short, so that a black hole resolves within the test, and every request
// must be answered within it plus requestMargin.
const (
	faultTimeout  = 2 * time.Second
	requestMargin = 3 * time.Second
)

// TestUpstreamKilledAndRestarted SIGKILLs the upstream process twice
// under a mixed load of reads and mutations and brings it back on the
// same port. Every request must succeed or get its documented status in
// time; no mutation may reach upstream twice, or at all after a 502; and
// the bridge must serve again once upstream is back.
func TestUpstreamKilledAndRestarted(t *testing.T) {
	token := newRunToken()
	// The delay keeps requests in flight at the moment of the kill.
	up := startUpstreamProc(t, token, 20*time.Millisecond)
	sc := startSidecar(t, up.addr, token, "--upstream-timeout", faultTimeout.String())
	warmUp(t, sc)
	g0, f0 := sc.goroutines(t), sc.fds(t)

	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	load := &mixedLoad{addr: sc.addr, key: sc.key, workers: 16, limit: faultTimeout + requestMargin}
	done := make(chan []outcome)
	go func() { done <- load.run(ctx) }()
	for _, step := range []struct {
		at   time.Duration
		kill bool
	}{{1500 * time.Millisecond, true}, {3 * time.Second, false}, {4500 * time.Millisecond, true}, {5500 * time.Millisecond, false}} {
		time.Sleep(step.at - elapsedSince(ctx, 9*time.Second))
		if step.kill {
			up.kill()
		} else {
			up.start()
		}
	}
	outs := <-done
	checkOutcomes(t, outs, up.arrivals())
	if n := countClass(outs, "documented"); n == 0 {
		t.Errorf("no request saw the kills: the fault was not exercised")
	}
	if okAfter(outs, 6500*time.Millisecond) == 0 {
		t.Errorf("no request succeeded after the upstream came back")
	}
	if !sc.running() {
		t.Fatal("clipbridge exited")
	}
	expectSettled(t, sc, g0, f0)
}

// TestUpstreamBlackholed puts a relay between the bridge and upstream
// and black-holes it for longer than --upstream-timeout under a mixed
// load: requests on the frozen connections and on new ones must end with
// 504 or the indeterminate 409 within the timeout, never hang, and the
// bridge must recover once the path is back.
func TestUpstreamBlackholed(t *testing.T) {
	token := newRunToken()
	up := startUpstream(t, token, 5*time.Millisecond)
	rl := startRelay(t, up.addr)
	sc := startSidecar(t, rl.addr(), token, "--upstream-timeout", faultTimeout.String())
	warmUp(t, sc)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	load := &mixedLoad{addr: sc.addr, key: sc.key, workers: 16, limit: faultTimeout + requestMargin}
	done := make(chan []outcome)
	go func() { done <- load.run(ctx) }()
	time.Sleep(2 * time.Second)
	rl.blackhole()
	time.Sleep(3 * time.Second)
	rl.restore()
	outs := <-done
	checkOutcomes(t, outs, up.arr)
	if n := countStatus(outs, 504) + countStatus(outs, 409); n == 0 {
		t.Errorf("no request timed out during the black hole: the fault was not exercised")
	}
	// Restored at 5 s; requests stuck on frozen connections end by 7 s.
	if okAfter(outs, 7500*time.Millisecond) == 0 {
		t.Errorf("no request succeeded after the path came back")
	}
	if !sc.running() {
		t.Fatal("clipbridge exited")
	}
}

// elapsedSince returns how much of a context's total budget has passed.
func elapsedSince(ctx context.Context, total time.Duration) time.Duration {
	dl, _ := ctx.Deadline()
	return total - time.Until(dl)
}

func countClass(outs []outcome, class string) int {
	n := 0
	for _, o := range outs {
		if o.class == class {
			n++
		}
	}
	return n
}

func countStatus(outs []outcome, status int) int {
	n := 0
	for _, o := range outs {
		if o.status == status {
			n++
		}
	}
	return n
}
