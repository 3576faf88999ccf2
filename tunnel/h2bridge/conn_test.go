package h2bridge

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Coalesced writes keep every byte in order, whatever the timing of the
// writer against a slow, uneven reader.
func TestPipeConnKeepsOrder(t *testing.T) {
	pr, pw := io.Pipe()
	c := newPipeConn(bytes.NewReader(nil), pw, func() error { return pr.Close() })
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 7000)
		for {
			n, err := pr.Read(buf[:1+rand.IntN(len(buf)-1)])
			b.Write(buf[:n])
			if rand.IntN(50) == 0 {
				time.Sleep(time.Millisecond)
			}
			if err != nil {
				got <- b.Bytes()
				return
			}
		}
	}()
	for i := range 4000 {
		rec := []byte(strconv.Itoa(i) + ":" + string(bytes.Repeat([]byte{'x'}, rand.IntN(9000))) + ";")
		want.Write(rec)
		if _, err := c.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the writer has handed everything over, then end the
	// stream cleanly.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	_ = pw.Close()
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("the reader got %d bytes, %d were written, or not in order", len(b), want.Len())
	}
	_ = c.Close()
}

// A failed write marks the channel lost, and later writes fail.
func TestPipeConnWriteFailure(t *testing.T) {
	c := newPipeConn(bytes.NewReader(nil), failingWriter{}, nil)
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	select {
	case <-c.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("not lost after a failed write")
	}
	if _, err := c.Write([]byte("y")); err == nil {
		t.Fatal("a write after the failure succeeded")
	}
}

// Close kills first, so a write blocked on a peer that stopped reading
// ends, and the writer is closed only after that.
func TestPipeConnCloseUnblocks(t *testing.T) {
	pr, pw := io.Pipe()
	c := newPipeConn(bytes.NewReader(nil), pw, func() error { return pr.CloseWithError(errors.New("killed")) })
	_, _ = c.Write(bytes.Repeat([]byte("z"), 1<<20)) // nobody reads: the writer blocks
	done := make(chan struct{})
	go func() { _ = c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(writerStopWait - time.Second):
		t.Fatal("Close did not unblock the writer")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
