package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer batches log output. The access log writes one line per
// request; unbuffered, that is one write(2) per request, which profiling
// put at a tenth of the bridge's CPU under load. Lines are flushed every
// flushEvery, when 32 KiB are pending, at once for warnings and errors
// (see flushOnWarn), and at exit.
type logBuffer struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	stop    chan struct{}
	stopped chan struct{}
}

const (
	flushEvery    = 100 * time.Millisecond
	flushAtBytes  = 32 << 10
	logBufferSize = 64 << 10
)

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: w, buf: make([]byte, 0, logBufferSize), stop: make(chan struct{}), stopped: make(chan struct{})}
	go b.loop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= flushAtBytes {
		b.flushLocked()
	}
	return len(p), nil
}

// Flush writes out what is pending.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

func (b *logBuffer) loop() {
	defer close(b.stopped)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			b.Flush()
			return
		}
	}
}

// Close flushes and stops the background flusher.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.stopped
}

// flushOnWarn wraps a handler so that a warning or an error reaches the
// output at once, ahead of the batching meant for the access log.
type flushOnWarn struct {
	slog.Handler
	buf *logBuffer
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(as), h.buf}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.buf}
}
