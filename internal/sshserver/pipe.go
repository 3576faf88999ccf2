package sshserver

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

// MemListener is an in-memory net.Listener whose connections are Pipes, for
// forwarded ports inside a testing/synctest bubble (see
// Options.ListenForward). Dial connects to it.
type MemListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewMemListener returns a listener reporting addr as its address.
func NewMemListener(addr net.Addr) *MemListener {
	return &MemListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for Dial or Close.
func (l *MemListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; pending and later Dials fail.
func (l *MemListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the address given to NewMemListener.
func (l *MemListener) Addr() net.Addr { return l.addr }

// Dial returns the client end of a new connection to the listener.
func (l *MemListener) Dial() (net.Conn, error) {
	client, server := Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
