package h2bridge

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeConn is a net.Conn over the two byte streams of an exec channel:
// the gateway's stdin and stdout (each side sees them the other way
// round). HTTP/2 needs nothing more than ordered bytes both ways.
//
// It reports the first failed read or write on Lost: on this channel an
// error in either direction means the session is gone (the process
// exited, the SSH session closed), and nothing can be re-sent on it.
type pipeConn struct {
	r      io.Reader
	w      io.Writer
	killFn func() error // ends the channel: kills the process, or closes the streams

	// wmu keeps Close of the writer apart from a Write: x/crypto/ssh's
	// channel does not allow the two at once.
	wmu sync.Mutex

	lostOnce  sync.Once
	lost      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// newPipeConn joins r and w; kill, on Close, must unblock a Read or a
// Write in progress (killing the process does).
func newPipeConn(r io.Reader, w io.Writer, kill func() error) *pipeConn {
	return &pipeConn{r: r, w: w, killFn: kill, lost: make(chan struct{})}
}

// Lost is closed once the channel has failed or been closed.
func (c *pipeConn) Lost() <-chan struct{} { return c.lost }

func (c *pipeConn) markLost() { c.lostOnce.Do(func() { close(c.lost) }) }

func (c *pipeConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.markLost()
	}
	return n, err
}

func (c *pipeConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.w.Write(p)
	if err != nil {
		c.markLost()
	}
	return n, err
}

// Close ends the channel once: kill first, which unblocks any Read and
// Write in progress, then the writer is closed (EOF for the peer).
func (c *pipeConn) Close() error {
	c.closeOnce.Do(func() {
		c.markLost()
		if c.killFn != nil {
			c.closeErr = c.killFn()
		}
		c.wmu.Lock()
		closeIfCloser(c.w)
		c.wmu.Unlock()
	})
	return c.closeErr
}

// pipeAddr names the channel where a network address would be: in
// request logs the peer is the sandbox's gateway, not a socket.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

func (c *pipeConn) LocalAddr() net.Addr  { return pipeAddr("h2bridge-host") }
func (c *pipeConn) RemoteAddr() net.Addr { return pipeAddr("h2bridge-gateway") }

// Deadlines: the channel has none (an SSH session or a pipe to a runner).
// Clearing one is true to say; setting one is refused honestly. Liveness
// comes from HTTP/2 PINGs instead (see Host and RunGateway).
func (c *pipeConn) SetDeadline(t time.Time) error      { return noDeadline(t) }
func (c *pipeConn) SetReadDeadline(t time.Time) error  { return noDeadline(t) }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return noDeadline(t) }

func noDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	return os.ErrNoDeadline
}
