package sshtunnel

import (
	"net"
	"sync"
)

// relayListener is the one net.Listener the tunnel's http.Server sees for
// its whole life. Each SSH connection's forwarded listener feeds it, so
// reconnecting swaps the source without restarting the server, and
// Shutdown drains requests from every connection at once.
type relayListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newRelayListener(addr net.Addr) *relayListener {
	return &relayListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept returns the next forwarded connection.
func (l *relayListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections already handed out are unaffected.
func (l *relayListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the remote listen address.
func (l *relayListener) Addr() net.Addr { return l.addr }

// feed accepts from one SSH forwarded listener until it closes (the SSH
// connection ended) and hands each connection to the http.Server.
func (l *relayListener) feed(src net.Listener) {
	for {
		c, err := src.Accept()
		if err != nil {
			return
		}
		cc := newChannelConn(c)
		select {
		case l.conns <- cc:
		case <-l.closed:
			_ = cc.Close()
			return
		}
	}
}
