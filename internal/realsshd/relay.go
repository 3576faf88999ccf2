package realsshd

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Relay is a loopback TCP proxy placed between an SSH client and sshd. Its
// Blackhole switch simulates a network path that silently drops packets:
// bytes stop flowing on the existing connections but nothing is closed, so
// neither end learns anything until its own timers fire. New connections
// are relayed normally, as over a different, working path.
type Relay struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

type link struct {
	a, b   net.Conn
	frozen atomic.Bool
}

// NewRelay listens on a free loopback port and relays to target.
func NewRelay(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target, links: map[*link]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr returns the relay's listening address.
func (r *Relay) Addr() *net.TCPAddr { return r.ln.Addr().(*net.TCPAddr) }

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = a.Close()
			continue
		}
		l := &link{a: a, b: b}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = a.Close()
			_ = b.Close()
			return
		}
		r.links[l] = struct{}{}
		r.wg.Add(2)
		r.mu.Unlock()
		go r.pump(l, a, b)
		go r.pump(l, b, a)
	}
}

// pump copies src to dst until src ends. Once the link is frozen it keeps
// reading and discards everything, and never closes either side.
func (r *Relay) pump(l *link, src, dst net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil && !l.frozen.Load() {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			if l.frozen.Load() {
				// A black hole does not carry FIN or RST either.
				return
			}
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			_ = dst.Close()
			return
		}
	}
}

// Blackhole freezes every connection open right now.
func (r *Relay) Blackhole() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range r.links {
		l.frozen.Store(true)
	}
}

// Close stops the relay and closes every connection, frozen or not.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for l := range r.links {
		_ = l.a.Close()
		_ = l.b.Close()
	}
	r.mu.Unlock()
	err := r.ln.Close()
	r.wg.Wait()
	return err
}
