package sshtunnel

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/clipbridge/clipbridge/sshconn"
)

// session is one SSH connection with its remote forward.
type session struct {
	conn    *sshconn.Conn
	ln      net.Listener
	self    *remoteProcess // nil when the probe failed
	feeding sync.WaitGroup
}

// close cancels the forward, closes the connection and waits for the
// accept loop.
func (s *session) close() {
	_ = s.ln.Close()
	_ = s.conn.Close()
	s.feeding.Wait()
}

// connect dials, identifies the remote serving process and requests the
// forward. On a reconnect it asks for the port granted the first time.
func (t *Tunnel) connect(ctx context.Context, first bool) (*session, error) {
	start := time.Now()
	conn, err := sshconn.Dial(ctx, t.opts.SSH)
	if err != nil {
		return nil, err
	}
	sess := &session{conn: conn}
	if p, err := probeServingProcess(ctx, conn.Client()); err != nil {
		t.opts.Logger.Debug("remote session process unknown; a stale forward cannot be reclaimed",
			"error", err)
	} else {
		sess.self = &p
	}

	addr := t.listen
	if !first {
		addr = t.RemoteAddr()
	}
	sess.ln, err = t.forward(ctx, conn, addr, first)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if first {
		granted, err := netip.ParseAddrPort(sess.ln.Addr().String())
		if err != nil {
			_ = sess.ln.Close()
			_ = conn.Close()
			return nil, fmt.Errorf("sshtunnel: unexpected forwarded address %q: %w", sess.ln.Addr(), err)
		}
		t.mu.Lock()
		t.remote = granted
		t.mu.Unlock()
	}
	t.metrics.connectDuration.Observe(time.Since(start).Seconds())
	return sess, nil
}

// forward requests the remote listener. If a reconnect is refused, the
// likely cause is our own previous session, dead on our side but not yet
// reaped by sshd (which postpones its ClientAlive check while connections
// keep arriving on the port): end that process and retry at once.
func (t *Tunnel) forward(ctx context.Context, conn *sshconn.Conn, addr netip.AddrPort, first bool) (net.Listener, error) {
	client := conn.Client()
	ln, err := client.Listen("tcp", addr.String())
	if err == nil {
		return ln, nil
	}
	refused := &sshconn.Error{Kind: sshconn.KindForwardRefused, Addr: t.opts.SSH.Addr(), Detail: refusedDetail(addr), Err: err}
	if first {
		return nil, refused
	}
	t.mu.Lock()
	stale := t.previous
	t.mu.Unlock()
	log := t.opts.Logger
	if stale == nil {
		log.Warn("remote port still held and the stale session is unknown; retrying with backoff",
			"remote_addr", addr.String())
		return nil, refused
	}
	verdict, kerr := endStaleProcess(ctx, client, *stale)
	switch {
	case kerr != nil:
		log.Warn("could not end the stale session holding the remote port; retrying with backoff",
			"remote_addr", addr.String(), "remote_pid", stale.PID, "error", kerr)
		return nil, refused
	case verdict == staleSelf || verdict == staleDenied:
		log.Warn("stale session cannot be ended; retrying with backoff",
			"remote_addr", addr.String(), "remote_pid", stale.PID, "verdict", verdict)
		return nil, refused
	}
	log.Info("ended stale ssh session holding the remote port", "remote_addr", addr.String(),
		"remote_pid", stale.PID, "verdict", verdict)
	t.mu.Lock()
	if t.previous == stale {
		t.previous = nil
	}
	t.mu.Unlock()
	// sshd releases the port as the process exits; poll briefly.
	deadline := time.Now().Add(t.opts.StaleKillWait)
	for {
		if ln, err = client.Listen("tcp", addr.String()); err == nil {
			return ln, nil
		}
		if time.Now().After(deadline) {
			return nil, refused
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-conn.Done():
			return nil, conn.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refusedDetail names both causes OpenSSH reports with the same bare
// failure, and the settings to check.
func refusedDetail(addr netip.AddrPort) string {
	return fmt.Sprintf("sshd on the execution host refused to listen on %s for us; OpenSSH gives the same answer for two causes: "+
		"(1) forwarding is disabled for this user: check AllowTcpForwarding, DisableForwarding and PermitListen in sshd_config "+
		"(and Match blocks), and restrict/no-port-forwarding/permitlisten= options on the key in authorized_keys; "+
		"(2) the address is already in use on the execution host: another process, or an earlier session of this sidecar "+
		"that sshd has not cleaned up yet (check with `ss -ltnp` there), or choose another --remote-listen port",
		addr)
}
