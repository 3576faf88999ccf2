package worker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// acquire takes ownership of the co-process; a W (isWait) yields to every other pending call.
func (s *remoteStore) acquire(isWait bool) {
	s.lk.Lock()
	if !isWait {
		s.pending++
		s.lk.Unlock()
		s.wake()
		s.lk.Lock()
	}
	for s.busy || (isWait && s.pending > 0) {
		s.cond.Wait()
	}
	s.busy = true
	if !isWait {
		s.pending--
	}
	s.lk.Unlock()
}

func (s *remoteStore) release() {
	s.lk.Lock()
	s.busy = false
	s.cond.Broadcast()
	s.lk.Unlock()
}

func (s *remoteStore) hasPending() bool {
	s.lk.Lock()
	defer s.lk.Unlock()
	return s.pending > 0
}

// coproc is one running co-process.
type coproc struct {
	p        runner.Process
	stdin    io.WriteCloser
	out      *bufio.Reader
	stderr   *runner.Tail
	bash     bool // W is wakeable and fork-free
	gnuHead  bool
	done     chan struct{}
	killOnce sync.Once
}

func (c *coproc) kill() {
	c.killOnce.Do(func() {
		_ = c.stdin.Close()
		_ = c.p.Kill()
	})
}

// start launches the co-process and reads its hello line.
func (s *remoteStore) start(ctx context.Context) (*coproc, error) {
	env := map[string]string{
		"CB_SCRIPT":   coprocScript,
		"CB_Q":        s.dir,
		"CB_POLL_MS":  strconv.Itoa(coprocPollMS),
		"CB_POLL_S":   fmt.Sprintf("%.3f", float64(coprocPollMS)/1000),
		"CB_SLEEP_MS": strconv.Itoa(coprocSleepMS),
		"CB_SLEEP_S":  fmt.Sprintf("%.3f", float64(coprocSleepMS)/1000),
		// Lets providers tell bridge plumbing from agent commands, as Paperclip does.
		"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge",
	}
	if s.noBash {
		env["CB_NO_BASH"] = "1"
	}
	if s.noGNUHead {
		env["CB_NO_GNU_HEAD"] = "1"
	}
	if s.agentBin != "" && time.Since(s.agentFailAt) > agentRetry {
		c, err := s.launch(ctx, runner.Command{Script: `exec "$CB_BIN" queue-agent`,
			Env: map[string]string{"CB_BIN": s.agentBin, queue.EnvQueueDir: s.dir, "PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge"}})
		if err == nil {
			return c, nil
		}
		s.agentFailAt = time.Now()
		s.log.Warn("queue agent unavailable; using the shell co-process", "error", err)
	}
	return s.launch(ctx, runner.Command{Script: coprocLauncher, Env: env})
}

// launch starts one co-process and reads its hello line.
func (s *remoteStore) launch(ctx context.Context, cmd runner.Command) (*coproc, error) {
	p, err := s.run.Start(context.WithoutCancel(ctx), cmd)
	if err != nil {
		return nil, fmt.Errorf("start queue co-process: %w", err)
	}
	c := &coproc{p: p, stdin: p.Stdin(), out: bufio.NewReaderSize(p.Stdout(), 64<<10), stderr: runner.NewTail(2048), done: make(chan struct{})}
	go func() { _, _ = io.Copy(c.stderr, p.Stderr()) }()
	t := time.AfterFunc(s.opTimeout, c.kill)
	code, text, _, err := c.reply(0)
	t.Stop()
	// Wait only after the greeting: an exec'd process's Wait closes its stdout, and a co-process
	// that refuses the queue (`:9 … is a symlink`) exits right after saying why.
	go func() { _, _ = p.Wait(); close(c.done) }()
	if err == nil && code != queue.CoprocOK {
		err = errors.New(text)
	}
	if err != nil {
		c.kill()
		<-c.done
		return nil, fmt.Errorf("%w: start: %w%s", errCoproc, err, c.stderr.Suffix())
	}
	f := strings.Fields(text)
	if len(f) != 4 || f[0] != "hello" {
		c.kill()
		<-c.done
		return nil, fmt.Errorf("%w: unexpected greeting %q", errCoproc, text)
	}
	c.bash, c.gnuHead = f[1] == "1", f[2] == "1"
	if epoch, err := strconv.ParseInt(f[3], 10, 64); err == nil {
		// Whole seconds only: good enough to age requests by tens of seconds.
		s.offset.Store(int64(time.Unix(epoch, 0).Sub(time.Now().Truncate(time.Second))))
	}
	s.log.Debug("queue co-process started", "bash", c.bash, "gnu_head", c.gnuHead)
	return c, nil
}

// reply reads data lines up to the status line. maxData bounds the data collected (0: none
// expected; anything beyond is a protocol error).
func (c *coproc) reply(maxData int) (code int, text string, data [][]byte, err error) {
	return readReply(c.out, maxData)
}

// readReply reads one answer (data lines up to the status line) from a co-process's output.
func readReply(out *bufio.Reader, maxData int) (code int, text string, data [][]byte, err error) {
	total := 0
	for {
		line, err := out.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A base64 tool that does not wrap lines: gather the rest of the line.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= maxData {
				line, err = out.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil {
			return 0, "", nil, fmt.Errorf("read co-process output: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && line[0] == ':' {
			head, rest, _ := strings.Cut(string(line[1:]), " ")
			code, err := strconv.Atoi(head)
			if err != nil {
				return 0, "", nil, fmt.Errorf("bad co-process status line")
			}
			return code, rest, data, nil
		}
		total += len(line)
		if total > maxData {
			return 0, "", nil, fmt.Errorf("co-process output exceeds %d bytes", maxData)
		}
		data = append(data, append([]byte(nil), line...))
	}
}

// do runs one command exchange under mu with the operation timeout; any failure kills the
// co-process so the next call starts a fresh one.
func (s *remoteStore) do(ctx context.Context, isWait bool, timeout time.Duration, send func(c *coproc) error, recv func(c *coproc) error) error {
	s.acquire(isWait)
	defer s.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cp == nil {
		c, err := s.start(ctx)
		if err != nil {
			return err
		}
		s.cp = c
	}
	c := s.cp
	var timedOut atomic.Bool
	t := time.AfterFunc(timeout, func() { timedOut.Store(true); c.kill() })
	defer t.Stop()
	stopKill := context.AfterFunc(ctx, c.kill)
	defer stopKill()
	err := send(c)
	if err == nil {
		err = recv(c)
	}
	if err != nil {
		c.kill()
		s.cp = nil
		switch {
		case timedOut.Load():
			err = fmt.Errorf("%w: operation timed out after %v", errCoproc, timeout)
		case ctx.Err() != nil:
			err = ctx.Err()
		default:
			err = fmt.Errorf("%w: %w%s", errCoproc, err, c.stderr.Suffix())
		}
	}
	return err
}

// wake ends a W in progress early (bash only; other shells return within shWaitCap anyway).
// Bash can drop a byte that arrives just as a `read -t` times out, so the wake line is repeated
// every wakeRetry until that W has answered; the generation keeps a repeat from waking the next W.
func (s *remoteStore) wake() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.waiting || s.waking || s.waitStdin == nil {
		return
	}
	s.waking = true
	gen, stdin := s.waitGen, s.waitStdin
	_, _ = io.WriteString(stdin, "\n")
	go func() {
		for {
			time.Sleep(wakeRetry)
			s.wmu.Lock()
			if !s.waiting || s.waitGen != gen {
				s.wmu.Unlock()
				return
			}
			_, err := io.WriteString(stdin, "\n")
			s.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

func (s *remoteStore) write(c *coproc, line string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := io.WriteString(c.stdin, line)
	return err
}
