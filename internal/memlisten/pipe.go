package memlisten

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"
)

// pipeConn is one end of a Pipe.
type pipeConn struct {
	r, w *pipeBuf
}

type pipeBuf struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	closed bool
}

func newPipeBuf() *pipeBuf {
	b := &pipeBuf{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Pipe returns the two ends of a buffered in-memory connection for running
// SSH inside a testing/synctest bubble: net.Pipe is unbuffered, so both SSH
// peers writing their version banner at once would deadlock, and a socket's
// blocking is invisible to synctest. Deadlines are accepted and ignored.
func Pipe() (net.Conn, net.Conn) {
	a, b := newPipeBuf(), newPipeBuf()
	return &pipeConn{r: a, w: b}, &pipeConn{r: b, w: a}
}

func (p *pipeConn) Read(out []byte) (int, error) {
	b := p.r
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.buf.Len() == 0 && !b.closed {
		b.cond.Wait()
	}
	if b.buf.Len() == 0 {
		return 0, io.EOF
	}
	return b.buf.Read(out)
}

func (p *pipeConn) Write(in []byte) (int, error) {
	b := p.w
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, net.ErrClosed
	}
	b.cond.Broadcast()
	return b.buf.Write(in)
}

func (p *pipeConn) Close() error {
	for _, b := range []*pipeBuf{p.r, p.w} {
		b.mu.Lock()
		b.closed = true
		b.cond.Broadcast()
		b.mu.Unlock()
	}
	return nil
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "mem" }
func (pipeAddr) String() string  { return "mem" }

func (p *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }
