package realsshd

import (
	"bytes"
	"sync"
)

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

// lineWriter calls fn for every complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
