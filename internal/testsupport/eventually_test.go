package testsupport

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestEventually(t *testing.T) {
	cases := []struct {
		name     string
		holdsAt  time.Duration // when cond starts to hold; negative: never
		timeout  time.Duration
		wantFail bool
	}{
		{"holds at once", 0, time.Second, false},
		{"holds later", 1500 * time.Millisecond, 2 * time.Second, false},
		{"never holds", -1, 2 * time.Second, true},
		{"holds too late", 3 * time.Second, 2 * time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				cond := func() bool { return tc.holdsAt >= 0 && time.Since(start) >= tc.holdsAt }
				var took time.Duration
				msg := runHelper(t, func(tb testing.TB) { took = Eventually(tb, "the thing", tc.timeout, cond) })
				elapsed := time.Since(start)
				if tc.wantFail {
					if !strings.Contains(msg, "waiting for the thing") {
						t.Fatalf("failure message = %q", msg)
					}
					if elapsed < tc.timeout || elapsed > tc.timeout+2*pollInterval {
						t.Fatalf("gave up after %s, want just past %s", elapsed, tc.timeout)
					}
					return
				}
				if msg != "" {
					t.Fatalf("failed: %s", msg)
				}
				if took < tc.holdsAt || took > tc.holdsAt+pollInterval {
					t.Fatalf("returned %s, want within one poll of %s", took, tc.holdsAt)
				}
			})
		})
	}
}
