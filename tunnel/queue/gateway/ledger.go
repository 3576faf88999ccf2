package gateway

import (
	"sync"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// ledger caps the body bytes the gateway holds across all requests, as Paperclip's E2 gateway
// does: each request reserves what its body and envelope may cost before reading, so 64
// concurrent 10 MiB uploads cannot exhaust the sandbox's memory.
type ledger struct {
	mu    sync.Mutex
	cap   int64
	inUse int64
}

func newLedger(maxBody int64) *ledger {
	limit := 4 * (4*queue.EnvelopeLimit(maxBody) + 4*maxBody)
	return &ledger{cap: min(limit, 1<<30)}
}

// reserveFor is the reservation for a body of n bytes: the body, its envelope (base64 or JSON
// escaping), and the response we will hold.
func reserveFor(n int64) int64 { return 2*n + queue.EnvelopeLimit(n) }

func (l *ledger) reserve(n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inUse+n > l.cap {
		return false
	}
	l.inUse += n
	return true
}

func (l *ledger) release(n int64) {
	l.mu.Lock()
	l.inUse -= n
	l.mu.Unlock()
}
