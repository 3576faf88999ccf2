package reliability

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// relay is a loopback TCP relay between the bridge and its upstream that
// can be black-holed: from then on it accepts connections but forwards
// nothing, and bytes on existing connections vanish, with neither end
// told (no FIN, no RST), which is how a dead network path or a frozen
// host looks. restore makes new connections work again; the frozen ones
// stay frozen, as connections through a path that lost its state would.
type relay struct {
	ln     net.Listener
	target string
	holed  atomic.Bool

	mu     sync.Mutex
	conns  []net.Conn
	frozen []*atomic.Bool
	wg     sync.WaitGroup
}

func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return
		}
		frozen := &atomic.Bool{}
		var b net.Conn
		if r.holed.Load() {
			frozen.Store(true)
		} else if b, err = net.Dial("tcp", r.target); err != nil {
			a.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, a)
		r.frozen = append(r.frozen, frozen)
		if b != nil {
			r.conns = append(r.conns, b)
			r.wg.Add(2)
			go r.pump(frozen, a, b)
			go r.pump(frozen, b, a)
		} else {
			r.wg.Add(1)
			go r.pump(frozen, a, nil)
		}
		r.mu.Unlock()
	}
}

// pump copies src to dst; once frozen it reads and drops everything and
// never closes anything.
func (r *relay) pump(frozen *atomic.Bool, src, dst net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !frozen.Load() && dst != nil {
			if _, werr := dst.Write(buf[:n]); werr != nil && !frozen.Load() {
				src.Close()
				return
			}
		}
		if err != nil {
			if frozen.Load() || dst == nil {
				return
			}
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			dst.Close()
			return
		}
	}
}

// blackhole freezes every connection and every new one.
func (r *relay) blackhole() {
	r.holed.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.frozen {
		f.Store(true)
	}
}

// restore lets new connections through again.
func (r *relay) restore() { r.holed.Store(false) }

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
