// Package budget is the sidecar's one process-wide ceiling on body bytes
// held in memory. The callback handler draws on it for response bodies it
// must hold, and the queue worker for the envelopes it reads, decodes and
// answers, so that however the agent arrives, many large bodies at once
// get a retryable 503 instead of growing the process without bound.
package budget

import "sync/atomic"

// DefaultSize is the budget for a body cap of maxBody bytes when none is
// set: four capped bodies at once, plus 1 MiB for what rides with them (a
// queue envelope carries up to 64 KiB of other fields), so that even a
// small cap leaves room for one whole envelope and its decoding.
func DefaultSize(maxBody int64) int64 { return 4*maxBody + 1<<20 }

// Budget is a count of bytes that may still be held. Reservations are
// made as memory is about to be allocated, so it bounds what is really
// held, not what might be.
type Budget struct {
	size int64
	free atomic.Int64
}

// New returns a budget of n bytes.
func New(n int64) *Budget {
	b := &Budget{size: n}
	b.free.Store(n)
	return b
}

// Size reports the budget's full size: a reservation larger than it can
// never succeed, however long it waits.
func (b *Budget) Size() int64 { return b.size }

// Reserve takes n bytes if that many are free.
func (b *Budget) Reserve(n int64) bool {
	for {
		f := b.free.Load()
		if f < n {
			return false
		}
		if b.free.CompareAndSwap(f, f-n) {
			return true
		}
	}
}

// Force takes n bytes even if fewer are free. It is for memory that is
// being allocated whatever the budget says (the answer to a call already
// made upstream must still be delivered): accounting for it keeps new
// reservations refused until it is released.
func (b *Budget) Force(n int64) { b.free.Add(-n) }

// Release returns n bytes.
func (b *Budget) Release(n int64) { b.free.Add(n) }

// Available reports the bytes free now (negative after Force overdraws).
func (b *Budget) Available() int64 { return b.free.Load() }

// Hold is what one piece of work holds of a budget, released together.
// A nil Hold, or one of a nil Budget, reserves without limit; its methods
// are not safe for concurrent use.
type Hold struct {
	b *Budget
	n int64
}

// NewHold starts an empty hold on b.
func (b *Budget) NewHold() *Hold { return &Hold{b: b} }

// Grow reserves n more bytes, reporting false (and reserving nothing) if
// the budget does not have them.
func (h *Hold) Grow(n int64) bool {
	if h == nil || h.b == nil || n <= 0 {
		return true
	}
	if !h.b.Reserve(n) {
		return false
	}
	h.n += n
	return true
}

// Force reserves n more bytes even past the budget (see Budget.Force).
func (h *Hold) Force(n int64) {
	if h == nil || h.b == nil || n <= 0 {
		return
	}
	h.b.Force(n)
	h.n += n
}

// Shrink returns up to n of the held bytes, for memory dropped early.
func (h *Hold) Shrink(n int64) {
	if h == nil || h.b == nil {
		return
	}
	n = min(n, h.n)
	h.n -= n
	h.b.Release(n)
}

// Held reports the bytes held now.
func (h *Hold) Held() int64 {
	if h == nil {
		return 0
	}
	return h.n
}

// Release returns everything held.
func (h *Hold) Release() { h.Shrink(h.Held()) }
