package h2bridge

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// maxPendingWrite bounds the bytes a pipeConn holds for its writer: an
// HTTP/2 frame is at most 16 KiB here, and flow control bounds the rest.
const maxPendingWrite = 256 << 10

// writerStopWait bounds how long Close waits for a write in progress
// before it closes the writer under it.
const writerStopWait = 5 * time.Second

// pipeConn is a net.Conn over the two byte streams of an exec channel:
// the gateway's stdin and stdout (each side sees them the other way
// round). HTTP/2 needs nothing more than ordered bytes both ways.
//
// Writes are coalesced: Write hands its bytes to one writer goroutine,
// which writes whatever has piled up in one go. x/net's server flushes a
// response's HEADERS frame alone and its DATA frame right after; on this
// channel every write is a pipe wake-up for the process on the other end
// and, over SSH, a packet through sshd too, so writing both at once takes
// two wake-ups off every call. It adds no delay: the writer never waits
// for more bytes, it only takes all there are.
//
// The first failed read or write closes Lost: on this channel an error in
// either direction means the session is gone (the process exited, the SSH
// session closed), and nothing can be re-sent on it.
type pipeConn struct {
	r      io.Reader
	w      io.Writer
	killFn func() error // ends the channel: kills the process, or closes the streams
	// direct: Write writes at once in the caller's goroutine, and w must
	// allow a Close during a Write (os.File and io.Pipe do). The gateway
	// uses it: its writes are requests, one frame each for a call without
	// a body, so a writer goroutine would only add a wake-up per call.
	direct bool
	dmu    sync.Mutex

	mu      sync.Mutex
	pending []byte
	spare   []byte
	werr    error
	kick    chan struct{} // buffered 1: bytes are pending
	drained chan struct{} // buffered 1: the writer took a batch
	stopped chan struct{} // closed when the writer goroutine has ended

	lostOnce  sync.Once
	lost      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// newPipeConn joins r and w, coalescing writes; kill, on Close, must
// unblock a Read and a write in progress (killing the process does).
func newPipeConn(r io.Reader, w io.Writer, kill func() error) *pipeConn {
	c := &pipeConn{r: r, w: w, killFn: kill, lost: make(chan struct{}),
		kick: make(chan struct{}, 1), drained: make(chan struct{}, 1), stopped: make(chan struct{})}
	go c.writeLoop()
	return c
}

// newDirectPipeConn is newPipeConn without the writer goroutine (see
// pipeConn.direct).
func newDirectPipeConn(r io.Reader, w io.Writer, kill func() error) *pipeConn {
	c := &pipeConn{r: r, w: w, killFn: kill, lost: make(chan struct{}), direct: true, stopped: make(chan struct{})}
	close(c.stopped)
	return c
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

// Write queues p for the writer. It blocks while maxPendingWrite bytes
// wait already, and fails once the channel is lost: the error of a write
// surfaces on the next one, which is all HTTP/2 needs (a failed write
// ends the connection either way).
func (c *pipeConn) Write(p []byte) (int, error) {
	if c.direct {
		c.dmu.Lock()
		defer c.dmu.Unlock()
		n, err := c.w.Write(p)
		if err != nil {
			c.markLost()
		}
		return n, err
	}
	c.mu.Lock()
	for len(c.pending) > 0 && len(c.pending)+len(p) > maxPendingWrite && c.werr == nil {
		c.mu.Unlock()
		select {
		case <-c.drained:
		case <-c.lost:
		}
		c.mu.Lock()
		if c.isLost() && c.werr == nil {
			c.werr = net.ErrClosed
		}
	}
	if c.werr == nil && c.isLost() {
		c.werr = net.ErrClosed
	}
	if err := c.werr; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *pipeConn) isLost() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

// writeLoop is the only goroutine that writes to w.
func (c *pipeConn) writeLoop() {
	defer close(c.stopped)
	for {
		select {
		case <-c.kick:
		case <-c.lost:
			return
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			// A kick for bytes an earlier batch already took.
			c.mu.Unlock()
			continue
		}
		// Two buffers take turns: Write appends to one while this
		// writes the other, and neither is ever both.
		batch := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.w.Write(batch)
		c.mu.Lock()
		c.spare = batch
		if err != nil {
			c.werr = err
		}
		c.mu.Unlock()
		select {
		case c.drained <- struct{}{}:
		default:
		}
		if err != nil {
			c.markLost()
			return
		}
	}
}

// Close ends the channel once: kill first, which unblocks a Read and a
// write in progress, then the writer is closed (EOF for the peer), only
// once the writer goroutine is done with it: x/crypto/ssh's channel does
// not allow a Close during a Write.
func (c *pipeConn) Close() error {
	c.closeOnce.Do(func() {
		c.markLost()
		if c.killFn != nil {
			c.closeErr = c.killFn()
		}
		select {
		case <-c.stopped:
		case <-time.After(writerStopWait):
		}
		closeIfCloser(c.w)
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
