package runner

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/runner/relaywire"
)

// fakeParent stands in for the npm launcher: it reads relay requests from its end of the socket
// and answers each with handle's reply, concurrently, as the launcher does. It records every
// request and the most it had in flight at once.
type fakeParent struct {
	conn   net.Conn
	handle func(relaywire.Request) (relaywire.Reply, bool) // false: never answer

	mu          sync.Mutex
	reqs        []relaywire.Request
	inFlight    int
	maxInFlight int
	wg          sync.WaitGroup
	wmu         sync.Mutex
}

func (p *fakeParent) serve() {
	defer p.wg.Done()
	for {
		var req relaywire.Request
		if err := relaywire.ReadFrame(p.conn, relaywire.MaxFrameBytes, &req); err != nil {
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		p.inFlight++
		p.maxInFlight = max(p.maxInFlight, p.inFlight)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			rep, ok := p.handle(req)
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
			if !ok {
				return
			}
			rep.ID = req.ID
			p.wmu.Lock()
			_ = relaywire.WriteFrame(p.conn, rep)
			p.wmu.Unlock()
		}()
	}
}

func (p *fakeParent) requests() []relaywire.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]relaywire.Request(nil), p.reqs...)
}

// socketPair returns the two ends of a unix socketpair as the launcher makes it: the sidecar's
// end as a raw descriptor (for OpenRelayFD) and the parent's as a net.Conn.
func socketPair(t *testing.T) (int, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf := os.NewFile(uintptr(fds[1]), "parent")
	parent, err := net.FileConn(pf)
	_ = pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Close() })
	return fds[0], parent
}

// startRelay connects a Relay to a fake parent over a real socketpair.
func startRelay(t *testing.T, maxInFlight int, handle func(relaywire.Request) (relaywire.Reply, bool)) (*Relay, *fakeParent) {
	t.Helper()
	fd, pc := socketPair(t)
	conn, err := OpenRelayFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	return relayWithParent(t, conn, pc, maxInFlight, handle)
}

// relayWithParent runs a Relay on conn and a fake parent on its peer pc, both closed when the
// test ends.
func relayWithParent(t *testing.T, conn, pc net.Conn, maxInFlight int, handle func(relaywire.Request) (relaywire.Reply, bool)) (*Relay, *fakeParent) {
	t.Helper()
	r, err := NewRelay(RelayOptions{Conn: conn, MaxInFlight: maxInFlight})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeParent{conn: pc, handle: handle}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = r.Close()
		_ = pc.Close()
		p.wg.Wait()
	})
	return r, p
}

// executeLocally is what Paperclip's test runner object does with a request: spawn it here with
// the given stdin and only PATH in its environment (a sandbox's processes see nothing of ours),
// killed at timeoutMs.
func executeLocally(req relaywire.Request) (relaywire.Reply, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(req.TimeoutMs)*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, req.Command, req.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader([]byte(req.Stdin))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	rep := relaywire.Reply{Stdout: out.String(), Stderr: errOut.String()}
	if ctx.Err() != nil {
		rep.TimedOut = true
		return rep, true
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		rep.Error = err.Error()
		return rep, true
	} else if ok && ee.ExitCode() < 0 {
		return rep, true // killed: exitCode null
	}
	code := cmd.ProcessState.ExitCode()
	rep.ExitCode = &code
	return rep, true
}
