package queuedir

import (
	"errors"
	"log/slog"
	"sync"
)

// logRefusal logs a linkError once per path until clear is called: the worker retries every
// few seconds, and one line per planted link is enough.
type logRefusal struct {
	mu     sync.Mutex
	logged map[string]bool
}

func (l *logRefusal) note(log *slog.Logger, err error) {
	var le *linkError
	if !errors.As(err, &le) {
		return
	}
	l.mu.Lock()
	first := !l.logged[le.path]
	if l.logged == nil {
		l.logged = map[string]bool{}
	}
	l.logged[le.path] = true
	l.mu.Unlock()
	if first {
		log.Warn("queue directory link refused", "path", le.path, "error", err)
	}
}

func (l *logRefusal) clear() {
	l.mu.Lock()
	l.logged = nil
	l.mu.Unlock()
}
