package sshserver

import (
	"io"
	"net"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
)

// conn is one authenticated client connection and the ports it forwards.
type conn struct {
	srv *Server
	sc  *ssh.ServerConn

	mu       sync.Mutex
	forwards map[string]net.Listener
	closed   bool
	wg       sync.WaitGroup
}

// forwardRequest is the RFC 4254 §7.1 tcpip-forward payload.
type forwardRequest struct {
	Addr string
	Port uint32
}

// forwardedChannel is the RFC 4254 §7.2 forwarded-tcpip channel payload.
type forwardedChannel struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (c *conn) globalRequests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		switch req.Type {
		case "keepalive@openssh.com":
			if c.srv.dropKeepalives.Load() {
				continue
			}
			// OpenSSH answers this request with a failure; the client only
			// cares that an answer arrives.
			_ = req.Reply(false, nil)
		case "tcpip-forward":
			c.forward(req)
		case "cancel-tcpip-forward":
			var fr forwardRequest
			if err := ssh.Unmarshal(req.Payload, &fr); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			c.mu.Lock()
			key := bindAddr(fr.Addr, fr.Port)
			ln, ok := c.forwards[key]
			delete(c.forwards, key)
			c.mu.Unlock()
			if ok {
				_ = ln.Close()
			}
			_ = req.Reply(ok, nil)
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// bindAddr maps a requested forward address to a loopback listen address:
// the server never binds beyond 127.0.0.1, whatever the client asks for.
func bindAddr(addr string, port uint32) string {
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsLoopback() {
		addr = "127.0.0.1"
	}
	return net.JoinHostPort(addr, strconv.Itoa(int(port)))
}

func (c *conn) forward(req *ssh.Request) {
	var fr forwardRequest
	if err := ssh.Unmarshal(req.Payload, &fr); err != nil || c.srv.refuseForwards.Load() || fr.Port > 65535 {
		// A bare failure, exactly as OpenSSH answers both "forwarding
		// disabled" and "address in use".
		_ = req.Reply(false, nil)
		return
	}
	ln, err := c.srv.opts.ListenForward("tcp", bindAddr(fr.Addr, fr.Port))
	if err != nil {
		_ = req.Reply(false, nil)
		return
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		_ = req.Reply(false, nil)
		return
	}
	port := uint32(tcp.Port)
	key := bindAddr(fr.Addr, port)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = ln.Close()
		_ = req.Reply(false, nil)
		return
	}
	c.forwards[key] = ln
	c.wg.Add(1)
	c.mu.Unlock()

	var reply []byte
	if fr.Port == 0 {
		reply = ssh.Marshal(struct{ Port uint32 }{port})
	}
	_ = req.Reply(true, reply)
	c.srv.opts.Logger.Debug("forward opened", "addr", key)

	go func() {
		defer c.wg.Done()
		for {
			tc, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.relay(tc, tcp.IP.String(), port)
			}()
		}
	}()
}

// relay carries one accepted TCP connection over a forwarded-tcpip channel.
func (c *conn) relay(tc net.Conn, addr string, port uint32) {
	defer tc.Close()
	origin, ok := tc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		// In-memory connections have no address; x/crypto rejects
		// port 0, so report a placeholder.
		origin = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	}
	ch, reqs, err := c.sc.OpenChannel("forwarded-tcpip", ssh.Marshal(forwardedChannel{
		Addr: addr, Port: port, OriginAddr: origin.IP.String(), OriginPort: uint32(origin.Port),
	}))
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ch.Close()
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	wg.Go(func() {
		_, _ = io.Copy(ch, tc)
		_ = ch.CloseWrite()
	})
	_, _ = io.Copy(tc, ch)
	// The client closed its side: end the TCP connection too, which also
	// unblocks the copy in the other direction. Deferred calls run in
	// reverse order: the channel closes, then the helpers are waited for.
	_ = tc.Close()
}

// close drops the connection and every port it forwards, then waits for the
// relays to finish.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	lns := make([]net.Listener, 0, len(c.forwards))
	for k, ln := range c.forwards {
		lns = append(lns, ln)
		delete(c.forwards, k)
	}
	c.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	_ = c.sc.Close()
}
