package proxy

import "sync/atomic"

// budget is the process-wide ceiling on response bytes held in memory.
//
// Only responses of unknown length are held (so that one crossing the cap
// still gets a clean status); everything else streams through a pooled
// 32 KiB buffer. Holding is reserved chunk by chunk as bytes arrive, so
// the budget bounds what is really allocated, not what might be. When it
// is exhausted, new requests are refused with a retryable 503 before they
// are sent upstream, and a held read that cannot reserve more fails: 503
// for a safe method, the indeterminate 409 for a mutation.
type budget struct {
	free atomic.Int64
}

func newBudget(n int64) *budget {
	b := &budget{}
	b.free.Store(n)
	return b
}

// reserve takes n bytes if they are available.
func (b *budget) reserve(n int64) bool {
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

// release returns n bytes.
func (b *budget) release(n int64) { b.free.Add(n) }

// available reports the bytes free now.
func (b *budget) available() int64 { return b.free.Load() }
