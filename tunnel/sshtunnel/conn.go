package sshtunnel

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// channelConn gives a forwarded SSH channel working deadlines. x/crypto's
// channel connections refuse SetDeadline, which would silently disable the
// http.Server's ReadHeaderTimeout, IdleTimeout and WriteTimeout and the
// handler's per-chunk deadlines for everything that arrives through the
// tunnel.
//
// Reads are done by one background goroutine so that a read deadline can
// interrupt a pending Read without losing data or the connection (the
// http.Server relies on that between keep-alive requests). A write that is
// still blocked when its deadline passes (a client that stopped reading,
// leaving the SSH window shut) closes the connection, since an SSH channel
// cannot abandon a half-sent write.
type channelConn struct {
	net.Conn

	readMu  sync.Mutex
	chunks  chan []byte // filled by the reader goroutine
	acks    chan struct{}
	pending []byte
	readErr error
	rdl     *deadline

	writeMu  sync.Mutex
	writing  atomic.Bool
	timedOut atomic.Bool
	wdl      *deadline

	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{} // reader goroutine finished
	finalErr  error         // set by the reader before done closes
}

// readChunkSize matches x/crypto's channel packet payload limit, so one
// Read usually returns one SSH data message.
const readChunkSize = 32 << 10

func newChannelConn(c net.Conn) *channelConn {
	cc := &channelConn{
		Conn:   c,
		chunks: make(chan []byte),
		acks:   make(chan struct{}),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	cc.rdl = newDeadline(nil)
	cc.wdl = newDeadline(func() {
		if cc.writing.Load() {
			cc.timedOut.Store(true)
			_ = cc.Conn.Close()
		}
	})
	go cc.readLoop()
	return cc
}

// readLoop reads into one buffer and hands it over, waiting for the
// consumer to finish with it before reading again: no copying, no
// unbounded read-ahead.
func (c *channelConn) readLoop() {
	defer close(c.done)
	buf := make([]byte, readChunkSize)
	for {
		n, err := c.Conn.Read(buf)
		if n > 0 {
			select {
			case c.chunks <- buf[:n]:
			case <-c.closed:
				return
			}
			select {
			case <-c.acks:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			c.finalErr = err
			return
		}
	}
}

// Read returns buffered data first, then waits for the reader goroutine,
// the read deadline, or Close.
func (c *channelConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 && c.readErr == nil {
		select {
		case <-c.closed:
			return 0, net.ErrClosed
		case <-c.rdl.done():
			return 0, os.ErrDeadlineExceeded
		default:
		}
		select {
		case chunk := <-c.chunks:
			c.pending = chunk
		case <-c.done:
			c.readErr = c.finalErr
		case <-c.closed:
			return 0, net.ErrClosed
		case <-c.rdl.done():
			return 0, os.ErrDeadlineExceeded
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			select {
			case c.acks <- struct{}{}:
			case <-c.closed:
			}
		}
		return n, nil
	}
	return 0, c.readErr
}

// Write writes p, aborting the connection if the write deadline passes
// while the channel is blocked.
func (c *channelConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.writing.Store(true)
	defer c.writing.Store(false)
	select {
	case <-c.wdl.done():
		return 0, os.ErrDeadlineExceeded
	default:
	}
	n, err := c.Conn.Write(p)
	if err != nil && c.timedOut.Load() {
		return n, os.ErrDeadlineExceeded
	}
	return n, err
}

// Close closes the channel and stops the reader goroutine.
func (c *channelConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
		c.rdl.set(time.Time{})
		c.wdl.set(time.Time{})
	})
	return err
}

// CloseWrite half-closes the channel (SSH EOF), which http.Server uses for a
// graceful close.
func (c *channelConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SetDeadline sets both deadlines.
func (c *channelConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *channelConn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *channelConn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}
