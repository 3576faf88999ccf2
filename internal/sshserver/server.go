// Package sshserver is a small in-process SSH server (golang.org/x/crypto/ssh)
// for the tier-1 tests and for `clipbridge demo`. It listens on loopback only,
// presents a pinned host key, accepts exactly one public key, and implements
// what the tunnel needs: remote port forwards (tcpip-forward /
// cancel-tcpip-forward with forwarded-tcpip channels) and keepalive replies.
//
// "exec" sessions are refused unless Options.Exec is set; then the command
// runs locally with /bin/sh -c, which is acceptable only because the server
// is a loopback test and demo fixture. Like a stock sshd without AcceptEnv,
// "env" requests are always refused.
//
// Fault knobs let tests refuse forwards, swallow keepalive replies (a black
// hole as seen from the client) and drop every connection.
package sshserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Options configure a Server.
type Options struct {
	// HostKey is the server's pinned host key. Required.
	HostKey ssh.Signer
	// ExtraHostKeys are further host keys of other types, offered like a
	// real sshd that has ed25519, ECDSA and RSA keys.
	ExtraHostKeys []ssh.Signer
	// AuthorizedKey is the only client key accepted. Required.
	AuthorizedKey ssh.PublicKey
	// User, if set, is the only login name accepted.
	User string
	// Exec runs "exec" requests locally with /bin/sh -c; when false they are
	// refused.
	Exec bool
	// Logger receives server events; nil discards them.
	Logger *slog.Logger
	// ListenForward opens the listener for a remote forward, always on a
	// loopback address; nil means net.Listen. Tests inside a
	// testing/synctest bubble pass a memlisten.Listener.
	ListenForward func(network, addr string) (net.Listener, error)
}

// Server is an in-process SSH server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	cfg  *ssh.ServerConfig

	refuseForwards atomic.Bool
	dropKeepalives atomic.Bool

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a server that is not yet listening.
func New(opts Options) (*Server, error) {
	if opts.HostKey == nil || opts.AuthorizedKey == nil {
		return nil, errors.New("sshserver: host key and authorized key are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ListenForward == nil {
		opts.ListenForward = net.Listen
	}
	s := &Server{opts: opts, conns: map[*conn]struct{}{}}
	want := opts.AuthorizedKey.Marshal()
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if opts.User != "" && md.User() != opts.User {
				return nil, fmt.Errorf("user %q not allowed", md.User())
			}
			if string(key.Marshal()) != string(want) {
				return nil, errors.New("key not authorized")
			}
			return &ssh.Permissions{}, nil
		},
		ServerVersion: "SSH-2.0-clipbridge-sshserver",
	}
	s.cfg.AddHostKey(opts.HostKey)
	for _, k := range opts.ExtraHostKeys {
		s.cfg.AddHostKey(k)
	}
	return s, nil
}

// Listen binds addr, which must be a loopback address such as
// "127.0.0.1:0", and serves connections in the background until Close.
func (s *Server) Listen(addr string) (net.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sshserver: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil, net.ErrClosed
	}
	s.ln = ln
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.Handle(nc)
		}
	}()
	return ln.Addr(), nil
}

// Addr returns the listening address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// KnownHostsLine returns the known_hosts line pinning this server's host key
// for addr (host:port), e.g. "[127.0.0.1]:40022 ssh-ed25519 AAAA…".
func (s *Server) KnownHostsLine(addr string) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.opts.HostKey.PublicKey())
}

// Handle serves one already-accepted transport (a TCP conn, or an in-memory
// memlisten.Pipe in tests) in the background.
func (s *Server) Handle(nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.serveConn(nc)
	}()
}

// SetRefuseForwards makes tcpip-forward requests fail, the way OpenSSH
// answers when forwarding is disabled or the port is taken.
func (s *Server) SetRefuseForwards(v bool) { s.refuseForwards.Store(v) }

// SetDropKeepalives makes the server swallow keepalive@openssh.com requests
// without replying, so the client sees a link that has gone silent. Replies
// to other global requests would then be matched to the wrong request by
// the client, so tests enable it only on an otherwise idle connection.
func (s *Server) SetDropKeepalives(v bool) { s.dropKeepalives.Store(v) }

// CloseConns drops every current connection abruptly (their forwarded ports
// are released), as if the server process serving them had died.
func (s *Server) CloseConns() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// ConnCount returns the number of live SSH connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening, drops every connection and waits for all server
// goroutines, including running exec commands, to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	s.CloseConns()
	s.wg.Wait()
	return err
}

// handshakeTimeout bounds a client that connects but never speaks SSH.
const handshakeTimeout = 10 * time.Second

func (s *Server) serveConn(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		s.opts.Logger.Debug("ssh handshake failed", "remote", nc.RemoteAddr().String(), "error", err)
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{srv: s, sc: sc, forwards: map[string]net.Listener{}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = sc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.globalRequests(reqs)
	}()
	for nch := range chans {
		switch {
		case nch.ChannelType() == "session" && s.opts.Exec:
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.session(nch)
			}()
		default:
			_ = nch.Reject(ssh.Prohibited, "channel type not supported")
		}
	}
	// The transport is gone: release forwarded ports and wait for every
	// helper goroutine before reporting the connection closed.
	c.close()
	c.wg.Wait()
	wg.Wait()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
