package realsshd

import "sync"

// ringBuffer keeps the last few hundred KiB of sshd's log.
type ringBuffer struct {
	mu   sync.Mutex
	max  int
	data []byte
}

func newRingBuffer(size int) *ringBuffer { return &ringBuffer{max: size} }

// WriteLine appends one log line.
func (r *ringBuffer) WriteLine(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.data = append(r.data, line...)
	r.data = append(r.data, '\n')
	if over := len(r.data) - r.max; over > 0 {
		r.data = append(r.data[:0], r.data[over:]...)
	}
}

// String returns the buffered text.
func (r *ringBuffer) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.data)
}
