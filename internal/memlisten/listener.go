package memlisten

import (
	"net"
	"sync"
)

// Listener is a net.Listener fed by Deliver and Dial. Accept, Deliver, Dial
// and Close are safe for concurrent use.
type Listener struct {
	addr   net.Addr
	conns  chan net.Conn // unbuffered: a connection is handed over only to a waiting Accept
	closed chan struct{}
	once   sync.Once
}

// New returns an open listener that reports addr as its address.
func New(addr net.Addr) *Listener {
	return &Listener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next delivered connection, or for Close.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Deliver waits until Accept takes c. If the listener is closed first it
// returns net.ErrClosed and c stays the caller's to close: the handover is
// unbuffered so that no connection is ever stranded in a closed listener.
func (l *Listener) Deliver(c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

// Dial returns the client end of a new Pipe whose server end Accept
// returns; after Close it fails with net.ErrClosed.
func (l *Listener) Dial() (net.Conn, error) {
	client, server := Pipe()
	if err := l.Deliver(server); err != nil {
		return nil, err
	}
	return client, nil
}

// Close stops Accept, Deliver and Dial; it may be called more than once.
// Connections already accepted are unaffected.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the address given to New.
func (l *Listener) Addr() net.Addr { return l.addr }
