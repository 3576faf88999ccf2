package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// Co-process tuning.
const (
	// coprocPollMS is the bash wait tick: a `read -t` that costs no fork, so it can be short
	// enough for pickup within a few milliseconds.
	coprocPollMS = 2
	// coprocSleepMS is the tick of shells without `read -t`: each tick forks `sleep`, so it is
	// longer, and such waits are capped at shWaitCap because they cannot be woken early.
	coprocSleepMS = 10
	shWaitCap     = 50 * time.Millisecond
	// largePutBytes: without GNU head, payloads above this go through their own exec instead of
	// the co-process's one-byte-per-read `dd`.
	largePutBytes = 32 << 10
	// agentRetry is how long after a failed queue-agent start the shell is used before the
	// agent is tried again (the binary may be uploaded after the worker starts).
	agentRetry = time.Minute
	// wakeRetry repeats a wake line until the W it targets answers.
	wakeRetry = 20 * time.Millisecond
)

// errCoproc marks a broken co-process; the store restarts it on the next call.
var errCoproc = errors.New("queue co-process failed")

// remoteStore serves the queue through one long-lived shell co-process started by a runner.
type remoteStore struct {
	run       runner.Runner
	dir       string
	log       *slog.Logger
	opTimeout time.Duration
	// agentBin, when set, is a clipbridge binary on the execution host: the co-process is then
	// `<bin> queue-agent` (package agent), with the shell script as the fallback when it fails.
	agentBin    string
	agentFailAt time.Time
	// noBash keeps the co-process in plain sh even where bash exists, and noGNUHead makes it
	// read payloads with `dd` (tests of the paths taken on busybox-style hosts).
	noBash, noGNUHead bool

	// One command at a time owns the co-process (busy). Operations other than W take
	// precedence: a W is only sent when none is pending, and one in progress is woken (see
	// wake) as soon as one arrives, so the listing loop never delays a read or a write.
	lk      sync.Mutex
	cond    *sync.Cond
	busy    bool
	pending int
	cp      *coproc // owned by the current command; nil until started and after a failure

	// The W in progress, for wake. Both the W command and a wake are written under wmu, so a
	// wake always follows the W it is meant to end.
	wmu       sync.Mutex
	waiting   bool      // a W is in progress
	waking    bool      // its wake has been sent
	waitGen   uint64    // counts W commands
	waitStdin io.Writer // the co-process running that W
	offset    atomic.Int64
}

func newRemoteStore(r runner.Runner, dir string, opTimeout time.Duration, log *slog.Logger) *remoteStore {
	s := &remoteStore{run: r, dir: dir, opTimeout: opTimeout, log: log}
	s.cond = sync.NewCond(&s.lk)
	return s
}

// Prepare implements store: the co-process creates the directories when it starts.
func (s *remoteStore) Prepare(ctx context.Context) error {
	return s.do(ctx, false, s.opTimeout, func(*coproc) error { return nil }, func(*coproc) error { return nil })
}

// Wait implements store.
func (s *remoteStore) Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error) {
	var names []string
	stopWake := context.AfterFunc(ctx, s.wake)
	defer stopWake()
	err := s.do(context.WithoutCancel(ctx), true, wait+s.opTimeout, func(c *coproc) error {
		if !c.bash {
			wait = min(wait, shWaitCap)
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.hasPending() || ctx.Err() != nil {
			wait = 0 // someone is queued for the co-process: list without waiting
		}
		var b strings.Builder
		fmt.Fprintf(&b, "W %d", wait.Milliseconds())
		for n := range skip {
			b.WriteString(" " + n)
		}
		b.WriteString("\n")
		if _, err := io.WriteString(c.stdin, b.String()); err != nil {
			return err
		}
		s.waiting, s.waking = wait > 0, false
		s.waitGen++
		s.waitStdin = nil
		if c.bash {
			s.waitStdin = c.stdin
		}
		return nil
	}, func(c *coproc) error {
		code, text, data, err := c.reply(1 << 20)
		s.wmu.Lock()
		s.waiting = false
		s.wmu.Unlock()
		if err != nil {
			return err
		}
		if code != queue.CoprocOK {
			return errors.New(text)
		}
		for _, d := range data {
			if n, ok := strings.CutPrefix(string(d), "N "); ok && queue.ValidName(n) {
				names = append(names, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/requests: %w", s.dir, err)
	}
	slices.Sort(names)
	return names, ctx.Err()
}

// Read implements store.
func (s *remoteStore) Read(ctx context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	var out []byte
	var missing bool
	err := s.do(ctx, false, s.opTimeout, func(c *coproc) error {
		return s.write(c, fmt.Sprintf("R %s %d\n", name, limit+1))
	}, func(c *coproc) error {
		code, text, data, err := c.reply(int(4*(limit+3)/3 + 4096))
		if err != nil {
			return err
		}
		switch code {
		case queue.CoprocOK:
		case queue.CoprocMissing:
			missing = true
			return nil
		default:
			return errors.New(text)
		}
		b, err := base64.StdEncoding.DecodeString(string(bytes.Join(data, nil)))
		if err != nil {
			return fmt.Errorf("decode read output: %w", err)
		}
		out = b
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s/requests/%s: %w", s.dir, name, err)
	case missing:
		return nil, queuedir.ErrNotExist
	case int64(len(out)) > limit:
		return nil, queuedir.ErrTooLarge
	case !hold.Grow(int64(len(out))):
		return nil, &queuedir.BudgetError{Need: int64(len(out))}
	}
	return out, nil
}

// Write implements store.
func (s *remoteStore) Write(ctx context.Context, name string, data []byte, guard, remove bool) (queuedir.WriteResult, error) {
	g, rm := "0", "0"
	if guard {
		g = "1"
	}
	if remove {
		rm = "1"
	}
	var result string
	useExec := false
	err := s.do(ctx, false, s.opTimeout, func(c *coproc) error {
		if !c.gnuHead && len(data) > largePutBytes {
			useExec = true
			return nil
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		// One write for command, payload and trailer keeps them together on the wire.
		msg := make([]byte, 0, len(data)+64)
		mode := "t"
		if bytes.IndexByte(data, 0) >= 0 {
			mode = "b"
		}
		msg = fmt.Appendf(msg, "P %s %s %s %d %s\n", name, g, rm, len(data), mode)
		msg = append(append(msg, data...), "end\n"...)
		_, err := c.stdin.Write(msg)
		return err
	}, func(c *coproc) error {
		if useExec {
			return nil
		}
		code, text, _, err := c.reply(0)
		if err != nil {
			return err
		}
		if code == queue.CoprocLockTimeout {
			return queuedir.ErrLockTimeout
		}
		if code != queue.CoprocOK {
			return errors.New(text)
		}
		result = text
		return nil
	})
	if err == nil && useExec {
		result, err = s.writeExec(ctx, name, g, rm, data)
	}
	if err != nil {
		return 0, fmt.Errorf("write bridge response %s/responses/%s: %w", s.dir, name, err)
	}
	for _, r := range []queuedir.WriteResult{queuedir.Wrote, queuedir.SkippedGone, queuedir.SkippedExists} {
		if result == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("write bridge response %s: unexpected result %q", name, result)
}

// writeExec writes one response through its own exec (see largePutBytes).
func (s *remoteStore) writeExec(ctx context.Context, name, guard, remove string, data []byte) (string, error) {
	res, err := s.run.Run(ctx, runner.Command{
		Script: putExecScript,
		Env: map[string]string{"CB_Q": s.dir, "CB_NAME": name, "CB_GUARD": guard, "CB_REMOVE": remove, "CB_LEN": strconv.Itoa(len(data)),
			"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge"},
		Stdin:   bytes.NewReader(data),
		Timeout: s.opTimeout,
	})
	if err != nil {
		return "", err
	}
	if err := res.Err("write bridge response"); err != nil {
		return "", err
	}
	out := strings.TrimSpace(string(res.Stdout))
	if text, ok := strings.CutPrefix(out, ":0 "); ok {
		return text, nil
	}
	return "", errors.New(out)
}

// Remove implements store.
func (s *remoteStore) Remove(ctx context.Context, name string) error {
	return s.simple(ctx, "D "+name+"\n", "remove "+name)
}

// Sweep implements store.
func (s *remoteStore) Sweep(ctx context.Context) error { return s.simple(ctx, "S\n", "sweep") }

func (s *remoteStore) simple(ctx context.Context, cmd, action string) error {
	err := s.do(ctx, false, s.opTimeout, func(c *coproc) error { return s.write(c, cmd) }, func(c *coproc) error {
		code, text, _, err := c.reply(0)
		if err == nil && code != queue.CoprocOK {
			err = errors.New(text)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// ClockOffset implements store.
func (s *remoteStore) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// Reset implements store: kill the co-process (a wedged one included); the next call restarts it.
func (s *remoteStore) Reset() {
	s.acquire(false)
	defer s.release()
	s.stopLocked()
}

func (s *remoteStore) stopLocked() {
	if s.cp != nil {
		s.cp.kill()
		<-s.cp.done
		s.cp = nil
	}
}

// Close implements store.
func (s *remoteStore) Close() error {
	s.Reset()
	return nil
}
