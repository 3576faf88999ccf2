package retry

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{"no jitter", 0.5, []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		{"lowest jitter", 0, []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms,
			6400 * ms, 12800 * ms, 24 * time.Second, 24 * time.Second}},
		{"highest jitter never exceeds max", 0.999999, []time.Duration{299999 * time.Microsecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{Rand: func() float64 { return tc.rand }}
			for i, want := range tc.want {
				got := b.Next()
				if d := got - want; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("delay %d = %s, want %s", i, got, want)
				}
			}
			for range 40 {
				if got := b.Next(); got > DefaultBackoffMax {
					t.Fatalf("delay %s above max", got)
				}
			}
		})
	}
}

func TestBackoffHealthyResets(t *testing.T) {
	b := Backoff{Rand: func() float64 { return 0.5 }, ResetAfter: 10 * time.Second}
	for range 5 {
		b.Next()
	}
	b.Healthy(9 * time.Second) // a flapping link keeps backing off
	if got := b.Next(); got != 8*time.Second {
		t.Fatalf("after a short session: %s, want 8s", got)
	}
	b.Healthy(10 * time.Second)
	if got := b.Next(); got != 250*time.Millisecond {
		t.Fatalf("after a healthy session: %s, want 250ms", got)
	}
}

func TestBackoffWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Rand: func() float64 { return 0.5 }}
		var total time.Duration
		start := time.Now()
		for range 4 {
			if err := b.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		total = time.Since(start)
		if want := 250*time.Millisecond + 500*time.Millisecond + time.Second + 2*time.Second; total != want {
			t.Errorf("four waits took %s, want %s", total, want)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := b.Wait(ctx); err == nil { // next delay is 4 s
			t.Error("Wait outlived its context")
		}
	})
}
