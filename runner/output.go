package runner

import "sync"

// boundedBuffer keeps the first max bytes written to it and drops the rest, so a chatty or hostile
// command cannot make the host buffer without limit. It never returns an error: the command must
// keep running (and draining) even once the bound is hit.
type boundedBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func newBoundedBuffer(max int) *boundedBuffer { return &boundedBuffer{max: max} }

// Write implements io.Writer.
func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *boundedBuffer) result() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf, b.truncated
}
