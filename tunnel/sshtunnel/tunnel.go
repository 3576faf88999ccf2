// Package sshtunnel is `ssh -R` in-process: it holds one SSH connection to
// the execution host, asks that host's sshd to listen on a loopback port,
// and serves the callback API's http.Handler on the forwarded listener, so
// the agent's http://127.0.0.1:<port> on that host reaches the sidecar.
//
// The first connect must succeed or Run returns a classified *sshconn.Error
// (the caller exits 2). After that, a lost connection is retried forever
// with jittered backoff, and the same remote port is requested again so the
// agent's URL stays valid. When sshd still holds that port for a dead
// session it has not reaped, the tunnel ends that session's process (it
// learned its pid at connect time) and takes the port back at once.
package sshtunnel

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/internal/memlisten"
)

// ErrStopped is returned by Client and RunCommand once Run has returned.
var ErrStopped = errors.New("ssh tunnel stopped")

// ErrDrainTimeout is returned by Run when requests were still in flight
// after ShutdownTimeout and had to be cut off.
var ErrDrainTimeout = errors.New("ssh tunnel drain timed out with requests still in flight")

// Tunnel is an SSH remote port forward serving one http.Handler.
type Tunnel struct {
	opts    Options
	listen  netip.AddrPort // as requested
	metrics *metrics
	srv     *http.Server
	ln      *memlisten.Listener // fed by each session in turn (see feed)

	started atomic.Bool
	up      atomic.Bool
	ready   chan struct{}
	stopped chan struct{}

	mu      sync.Mutex
	remote  netip.AddrPort // as granted by the first connect
	current *session
	changed chan struct{} // closed and replaced on every up/down change
	// previous identifies the remote process of the last connection that
	// was up, so a reconnect can end it if it still holds the port.
	previous *remoteProcess
}

// New validates the options and registers the metrics. It does not connect.
func New(opts Options) (*Tunnel, error) {
	listen, err := opts.validate()
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	if o.SSH.KeepaliveRTT == nil {
		o.SSH.KeepaliveRTT = m.keepaliveRTT
	}
	if o.SSH.Logger == nil {
		o.SSH.Logger = o.Logger
	}
	t := &Tunnel{
		opts:    o,
		listen:  listen,
		metrics: m,
		srv:     o.Server,
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
		changed: make(chan struct{}),
	}
	t.ln = memlisten.New(net.TCPAddrFromAddrPort(listen))
	return t, nil
}

// Ready is closed once the first forward is established; RemoteAddr and URL
// are valid from then on.
func (t *Tunnel) Ready() <-chan struct{} { return t.ready }

// RemoteAddr returns the address sshd listens on for us on the execution
// host, with the port it granted.
func (t *Tunnel) RemoteAddr() netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote
}

// URL returns the agent's PAPERCLIP_API_URL, http://127.0.0.1:<remote port>
// (an unspecified listen address is reached through loopback).
func (t *Tunnel) URL() string {
	ap := t.RemoteAddr()
	addr := ap.Addr()
	if addr.IsUnspecified() {
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return "http://" + net.JoinHostPort(addr.String(), strconv.Itoa(int(ap.Port())))
}

// Up reports whether the forward is established right now (for /readyz).
func (t *Tunnel) Up() bool { return t.up.Load() }

// Client waits until the tunnel is up and returns its SSH client, so the SSH
// runner and command mode share the tunnel's connection. The client fails
// once that connection is lost; call Client again to get the next one.
func (t *Tunnel) Client(ctx context.Context) (*ssh.Client, error) {
	for {
		t.mu.Lock()
		cur, changed := t.current, t.changed
		t.mu.Unlock()
		if cur != nil {
			return cur.conn.Client(), nil
		}
		select {
		case <-changed:
		case <-t.stopped:
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Run connects, serves until ctx ends, then drains in-flight requests (up
// to ShutdownTimeout) and closes the connection. A failed first connect
// returns its *sshconn.Error; later failures are logged and retried. Run
// returns nil after a clean shutdown and may be called once.
func (t *Tunnel) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("sshtunnel: Run called twice")
	}
	defer close(t.stopped)
	log := t.opts.Logger

	sess, err := t.connect(ctx, true)
	if err != nil {
		return err
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- t.srv.Serve(t.ln) }()
	t.setUp(sess)
	close(t.ready)
	log.Info("tunnel connected", "ssh_addr", t.opts.SSH.Addr(), "remote_addr", t.RemoteAddr().String())

	backoff := t.opts.Backoff
	for {
		upSince := time.Now()
		select {
		case <-ctx.Done():
			return t.shutdown(sess, serveDone)
		case <-sess.conn.Done():
		}
		downSince := time.Now()
		t.setDown(sess)
		log.Warn("tunnel down", "error", sess.conn.Err(), "up_seconds", downSince.Sub(upSince).Seconds())
		sess.close()
		backoff.Healthy(downSince.Sub(upSince))
		for {
			if backoff.Wait(ctx) != nil {
				return t.shutdown(nil, serveDone)
			}
			sess, err = t.connect(ctx, false)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return t.shutdown(nil, serveDone)
			}
			log.Warn("tunnel reconnect failed", "error", err)
		}
		t.metrics.reconnects.Inc()
		t.setUp(sess)
		log.Info("tunnel reconnected", "remote_addr", t.RemoteAddr().String(), "down_seconds", time.Since(downSince).Seconds())
	}
}

// setUp publishes sess as the live connection and starts feeding its
// forwarded connections to the server.
func (t *Tunnel) setUp(sess *session) {
	sess.feeding.Add(1)
	go func() {
		defer sess.feeding.Done()
		feed(t.ln, sess.ln)
	}()
	t.mu.Lock()
	t.current = sess
	t.previous = sess.self
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	t.up.Store(true)
	t.metrics.up.Set(1)
}

func (t *Tunnel) setDown(sess *session) {
	t.up.Store(false)
	t.metrics.up.Set(0)
	t.mu.Lock()
	if t.current == sess {
		t.current = nil
	}
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// shutdown drains the server while the SSH connection still carries the
// in-flight responses, then closes the connection.
func (t *Tunnel) shutdown(sess *session, serveDone <-chan error) error {
	t.up.Store(false)
	t.metrics.up.Set(0)
	ctx, cancel := context.WithTimeout(context.Background(), t.opts.ShutdownTimeout)
	defer cancel()
	var drainErr error
	if err := t.srv.Shutdown(ctx); err != nil {
		t.opts.Logger.Warn("tunnel drain timed out; closing remaining connections", "timeout", t.opts.ShutdownTimeout.String())
		_ = t.srv.Close()
		drainErr = ErrDrainTimeout
	}
	<-serveDone
	if sess != nil {
		t.setDown(sess)
		sess.close()
	}
	t.opts.Logger.Info("tunnel closed")
	return drainErr
}
