// Package retry paces the loops that try again after a failure: the SSH
// tunnel's and the HTTP/2 session's reconnects, the SSH runner's dials, the
// queue worker's listings and the gateway launcher's restarts. One jittered
// exponential policy, each loop with its own first delay and cap.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults, the SSH reconnect's: start fast so a brief blip costs a quarter
// of a second, cap at 30 s so a long outage does not hammer the host, and
// forget past failures once a connection has stayed up for a minute.
const (
	DefaultBackoffInitial    = 250 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
	DefaultBackoffResetAfter = time.Minute
	// backoffJitter spreads delays ±20% so many sidecars that lost the same
	// host do not reconnect in lockstep.
	backoffJitter = 0.2
)

// Backoff is a jittered exponential delay between attempts. The zero value
// uses the defaults above. It is not safe for concurrent use; each loop
// owns one.
type Backoff struct {
	// Initial is the first delay; 0 means DefaultBackoffInitial.
	Initial time.Duration
	// Max caps the delay; 0 means DefaultBackoffMax.
	Max time.Duration
	// ResetAfter is how long a connection must stay up before the delay
	// starts again from Initial; 0 means DefaultBackoffResetAfter.
	ResetAfter time.Duration
	// Rand returns a number in [0, 1) for jitter; nil means math/rand/v2.
	// Tests inject a fixed source.
	Rand func() float64

	attempt int
}

// Next returns the delay before the next attempt and advances the sequence:
// Initial, 2×Initial, 4×Initial … capped at Max, each scaled by a random
// factor in [0.8, 1.2) and never above Max.
func (b *Backoff) Next() time.Duration {
	initial, maxDelay := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if maxDelay <= 0 {
		maxDelay = DefaultBackoffMax
	}
	base := initial
	for i := 0; i < b.attempt && base < maxDelay; i++ {
		base *= 2
	}
	base = min(base, maxDelay)
	b.attempt++
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	d := time.Duration(float64(base) * (1 + backoffJitter*(2*r()-1)))
	return min(d, maxDelay)
}

// Reset starts the sequence again from Initial.
func (b *Backoff) Reset() { b.attempt = 0 }

// Healthy tells the backoff how long the last connection stayed up; a
// connection that lasted at least ResetAfter resets the sequence, so a link
// that flaps every few seconds keeps backing off while one that failed after
// an hour reconnects at once.
func (b *Backoff) Healthy(upFor time.Duration) {
	reset := b.ResetAfter
	if reset <= 0 {
		reset = DefaultBackoffResetAfter
	}
	if upFor >= reset {
		b.Reset()
	}
}

// Wait sleeps for Next() or until ctx ends, returning ctx's error in that
// case. It uses the real clock, so tests run it inside a testing/synctest
// bubble.
func (b *Backoff) Wait(ctx context.Context) error {
	if !Sleep(ctx, b.Next()) {
		return ctx.Err()
	}
	return nil
}

// Sleep sleeps d unless ctx ends first; it reports whether the full sleep
// happened.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
