package runner

import (
	"strings"
	"sync"
)

// Tail keeps the last bytes written to it, for the error message of a started Process that
// failed: the queue co-process and the launched gateway copy their stderr into one. The bound
// keeps a chatty or hostile process from growing it; like boundedBuffer it never fails a write,
// so the copy keeps draining the process.
type Tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// NewTail returns a Tail that keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write implements io.Writer.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// Suffix renders what was kept as ": <text>" for appending to an error message, or "" when
// nothing but blanks was written.
func (t *Tail) Suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}

// String returns what was kept, as written.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
