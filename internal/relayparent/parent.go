// Package relayparent is a relay parent written in Go: it does for `clipbridge serve --runner
// relay` what the npm launcher does, carrying out each request on this machine instead of with a
// sandbox runner object. Tests and the bench use it to run the sidecar's relay without Node.
package relayparent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clipbridge/clipbridge/runner/relaywire"
)

// Pair makes the relay socket: child is the sidecar's end, to pass as its fd 3
// (exec.Cmd.ExtraFiles[0]) and close once the sidecar has started; parent is ours.
func Pair() (child *os.File, parent net.Conn, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	syscall.CloseOnExec(fds[1])
	pf := os.NewFile(uintptr(fds[1]), "relay-parent")
	parent, err = net.FileConn(pf)
	_ = pf.Close()
	if err != nil {
		_ = syscall.Close(fds[0])
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "relay-child"), parent, nil
}

// Exec carries out one request and returns its reply (the ID is filled in by Serve).
type Exec func(ctx context.Context, req relaywire.Request) relaywire.Reply

// Parent serves one relay connection.
type Parent struct {
	// Exec runs each request; nil means Local.
	Exec Exec
	// Delay, if set, is added before each request runs: a stand-in for a provider's round trip.
	Delay time.Duration

	execs atomic.Int64
}

// Execs is how many requests the parent has received.
func (p *Parent) Execs() int64 { return p.execs.Load() }

// Serve answers requests on conn, each in its own goroutine, until conn fails or closes; it
// then waits for the requests still running and returns.
func (p *Parent) Serve(conn net.Conn) error {
	var wg sync.WaitGroup
	var wmu sync.Mutex
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := p.Exec
	if run == nil {
		run = Local
	}
	for {
		var req relaywire.Request
		if err := relaywire.ReadFrame(conn, relaywire.MaxFrameBytes, &req); err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		p.execs.Add(1)
		wg.Go(func() {
			if p.Delay > 0 {
				time.Sleep(p.Delay)
			}
			rep := run(ctx, req)
			rep.ID = req.ID
			wmu.Lock()
			defer wmu.Unlock()
			_ = relaywire.WriteFrame(conn, rep)
		})
	}
}

// Local runs req on this machine as a sandbox runner object would run it: with its stdin, only
// PATH in its environment, killed at its timeout, output bounded to its maximum.
func Local(ctx context.Context, req relaywire.Request) relaywire.Reply {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, req.Command, req.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader([]byte(req.Stdin))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	rep := relaywire.Reply{}
	rep.Stdout, rep.StdoutTruncated = bounded(out.String(), req.MaxOutputBytes)
	rep.Stderr, rep.StderrTruncated = bounded(errOut.String(), req.MaxOutputBytes)
	if ctx.Err() != nil {
		rep.TimedOut = true
		return rep
	}
	if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		rep.Error = err.Error()
		return rep
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		rep.ExitCode = &code
	}
	return rep
}

func bounded(s string, n int) (string, bool) {
	if n > 0 && len(s) > n {
		return s[:n], true
	}
	return s, false
}
