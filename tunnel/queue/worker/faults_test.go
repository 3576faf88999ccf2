package worker

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// flakyStore fails the first waitFails listings and writeFails response writes.
type flakyStore struct {
	store
	waitFails, writeFails atomic.Int32
}

func (s *flakyStore) Wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	if s.waitFails.Add(-1) >= 0 {
		return nil, errors.New("list /q/requests failed with exit code 255: kex_exchange_identification: read: Connection reset by peer")
	}
	return s.store.Wait(ctx, d, skip)
}

func (s *flakyStore) Write(ctx context.Context, name string, data []byte, guard, remove bool) (queuedir.WriteResult, error) {
	if s.writeFails.Add(-1) >= 0 {
		return 0, errors.New("write bridge response failed with exit code 255")
	}
	return s.store.Write(ctx, name, data, guard, remove)
}

// unreadableStore fails every read.
type unreadableStore struct{ store }

func (s *unreadableStore) Read(context.Context, string, int64, *budget.Hold) ([]byte, error) {
	return nil, errors.New("read u1.json: boom")
}

// hangingRunner makes the first co-process hang before its greeting and the second one deaf
// (commands never reach it), then behaves: a hung exec must cost a timeout, never the loop.
type hangingRunner struct {
	runner.Runner
	starts atomic.Int32
}

func (r *hangingRunner) Start(ctx context.Context, c runner.Command) (runner.Process, error) {
	switch r.starts.Add(1) {
	case 1:
		return r.Runner.Start(ctx, runner.Command{Script: "sleep 60"})
	case 2:
		p, err := r.Runner.Start(ctx, c)
		if err != nil {
			return nil, err
		}
		return deafProcess{Process: p}, nil
	}
	return r.Runner.Start(ctx, c)
}

type deafProcess struct{ runner.Process }

func (deafProcess) Stdin() io.WriteCloser { return nopWriteCloser{io.Discard} }

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// hangingWaitStore's listings block until Reset (a wedged connection that never errors).
type hangingWaitStore struct {
	store
	hung   atomic.Bool
	resets atomic.Int32
	reset  chan struct{}
}

func (s *hangingWaitStore) Wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	if s.hung.Load() {
		select {
		case <-s.reset:
			return nil, errors.New("connection reset")
		case <-time.After(30 * time.Second):
			return nil, errors.New("test store: never reset")
		}
	}
	return s.store.Wait(ctx, d, skip)
}

func (s *hangingWaitStore) Reset() {
	s.resets.Add(1)
	if s.hung.CompareAndSwap(true, false) {
		close(s.reset)
	}
	s.store.Reset()
}

// recordingRunner remembers the environment of every command it runs or starts.
type recordingRunner struct {
	runner.Runner
	mu   sync.Mutex
	envs []map[string]string
}

func (r *recordingRunner) record(c runner.Command) {
	r.mu.Lock()
	r.envs = append(r.envs, c.Env)
	r.mu.Unlock()
}

func (r *recordingRunner) Run(ctx context.Context, c runner.Command) (runner.Result, error) {
	r.record(c)
	return r.Runner.Run(ctx, c)
}

func (r *recordingRunner) Start(ctx context.Context, c runner.Command) (runner.Process, error) {
	r.record(c)
	return r.Runner.Start(ctx, c)
}
