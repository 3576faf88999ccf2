package testsupport

import (
	"testing"
	"time"
)

// pollInterval is short against the bounds callers give (seconds) and long
// enough not to steal much of a shared CPU from what is being waited for.
const pollInterval = 10 * time.Millisecond

// Eventually polls cond until it holds and returns how long that took, or
// fails the test naming what it waited for once timeout has passed. Inside
// a testing/synctest bubble the wait runs on the fake clock.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
	return time.Since(start)
}
