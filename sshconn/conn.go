package sshconn

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conn is one established SSH connection watched by a keepalive loop. When
// the link is declared dead the underlying client is closed, so every
// channel, session and forwarded listener on it fails at once instead of
// hanging.
type Conn struct {
	client *ssh.Client
	opts   Options

	done      chan struct{}
	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newConn(client *ssh.Client, o Options) *Conn {
	c := &Conn{client: client, opts: o, done: make(chan struct{}), closing: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := client.Wait()
		c.setErr(&Error{Kind: KindLinkDead, Addr: o.Addr(), Detail: "connection closed", Err: err})
		close(c.done)
	}()
	if o.KeepaliveInterval > 0 {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.keepalive()
		}()
	}
	return c
}

// Client returns the underlying SSH client, for opening sessions and
// forwards. It stays valid until Done is closed.
func (c *Conn) Client() *ssh.Client { return c.client }

// Done is closed once the connection has ended, for any reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended: a KindLinkDead *Error (keepalive
// timeout or the server closing the connection), or nil while it is alive or
// after Close.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// setErr records the first reason the connection ended.
func (c *Conn) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closing:
		// Closed on purpose: not an error worth reporting.
		return
	default:
	}
	if c.err == nil {
		c.err = err
	}
}

// Close ends the connection and waits for its goroutines. It is safe to call
// more than once and from any goroutine.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.closing)
		c.mu.Unlock()
	})
	err := c.client.Close()
	c.wg.Wait()
	return err
}

// keepalive sends keepalive@openssh.com every interval and closes the client
// when no answer has arrived for interval × max. At most one request is in
// flight: on a black-holed link it never returns, so detection is driven by
// the deadline timer, not by waiting for the request.
func (c *Conn) keepalive() {
	interval, limit := c.opts.KeepaliveInterval, time.Duration(c.opts.KeepaliveMax)*c.opts.KeepaliveInterval
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()

	type reply struct {
		rtt time.Duration
		err error
	}
	replies := make(chan reply, 1) // one request in flight, so never blocks
	inflight := false
	for {
		select {
		case <-c.closing:
			return
		case <-c.done:
			return
		case <-ticker.C:
			if inflight {
				continue
			}
			inflight = true
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				sent := time.Now()
				// Any answer, even a failure reply (OpenSSH refuses this
				// request by design), proves the peer is alive.
				_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
				replies <- reply{rtt: time.Since(sent), err: err}
			}()
		case r := <-replies:
			inflight = false
			if r.err != nil {
				// The connection is closing; client.Wait reports why.
				return
			}
			if c.opts.KeepaliveRTT != nil {
				c.opts.KeepaliveRTT.Observe(r.rtt.Seconds())
			}
			deadline.Reset(limit)
		case <-deadline.C:
			c.setErr(&Error{Kind: KindLinkDead, Addr: c.opts.Addr(), Detail: fmt.Sprintf(
				"no answer to keepalives for %s (%d × %s); closing the connection", limit, c.opts.KeepaliveMax, interval)})
			c.opts.Logger.Warn("ssh link dead", "addr", c.opts.Addr(), "silent_seconds", limit.Seconds())
			_ = c.client.Close()
			return
		}
	}
}
