package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/sshconn"
)

// SSHOptions configures NewSSH.
type SSHOptions struct {
	// Conn describes the connection (host, user, keys, known_hosts, keepalive); it follows the
	// same auth and host-key rules as the SSH transport. Secrets in it stay in memory.
	Conn sshconn.Options
	// Dial, if set, replaces sshconn.Dial(ctx, Conn) (tests, or a caller sharing its dialer).
	Dial func(ctx context.Context) (*sshconn.Conn, error)
	// Logger is required; Registerer may be nil.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// SSH runs every command as a session on ONE persistent SSH connection, redialled (with
// backoff) after it dies, instead of one `ssh` process and handshake per command. The command
// line sshd sees is the constant bootstrap; env, cwd and script travel on the session's stdin,
// which works on a stock sshd (no AcceptEnv) and keeps values out of the remote `ps`.
//
// A timeout sends SIGKILL to the remote shell and closes the session; children the shell started
// in the background may outlive it (no process group exists across SSH).
type SSH struct {
	dial  func(ctx context.Context) (*sshconn.Conn, error)
	log   *slog.Logger
	execs prometheus.Counter

	mu       sync.Mutex
	conn     *sshconn.Conn
	backoff  retry.Backoff
	lastErr  error
	retryAt  time.Time
	upSince  time.Time
	closed   bool
	dialLock sync.Mutex // one dial at a time; callers queue behind it
}

var _ Runner = (*SSH)(nil)

// ErrClosed is returned by a runner used after Close.
var ErrClosed = errors.New("runner closed")

// NewSSH returns an SSH runner; it connects on first use.
func NewSSH(o SSHOptions) (*SSH, error) {
	if o.Logger == nil {
		return nil, errors.New("runner: NewSSH needs a Logger")
	}
	dial := o.Dial
	if dial == nil {
		if err := o.Conn.Validate(); err != nil {
			return nil, err
		}
		conn := o.Conn
		dial = func(ctx context.Context) (*sshconn.Conn, error) { return sshconn.Dial(ctx, conn) }
	}
	return &SSH{dial: dial, log: o.Logger.With("component", "runner_ssh"), execs: execCounter(o.Registerer, "ssh")}, nil
}

// Name implements Runner.
func (*SSH) Name() string { return "ssh" }

// client returns a live client, dialling when there is none. After a failed dial it returns the
// same error until the backoff delay has passed, so a dead host is not hammered.
func (s *SSH) client(ctx context.Context) (*ssh.Client, error) {
	s.dialLock.Lock()
	defer s.dialLock.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if c := s.conn; c != nil {
		select {
		case <-c.Done():
			s.log.Warn("ssh connection lost", "error", c.Err())
			_ = c.Close()
			s.conn = nil
			s.backoff.Healthy(time.Since(s.upSince))
		default:
			s.mu.Unlock()
			return c.Client(), nil
		}
	}
	if time.Now().Before(s.retryAt) {
		err := s.lastErr
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()

	c, err := s.dial(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr, s.retryAt = err, time.Now().Add(s.backoff.Next())
		return nil, err
	}
	if s.closed {
		_ = c.Close()
		return nil, ErrClosed
	}
	s.conn, s.upSince = c, time.Now()
	s.log.Info("ssh connected")
	return c.Client(), nil
}

// session opens a session with the bootstrap's stdin wiring.
func (s *SSH) session(ctx context.Context) (*ssh.Session, error) {
	cl, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := cl.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open ssh session: %w", err)
	}
	return sess, nil
}

// remoteCommand is what sshd hands to the login shell: `sh -c '<bootstrap>'`.
var remoteCommand = "sh -c " + Quote(bootstrapScript)

// Run implements Runner.
func (s *SSH) Run(ctx context.Context, c Command) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	sess, err := s.session(ctx)
	if err != nil {
		return Result{}, err
	}
	defer sess.Close()
	s.execs.Inc()
	stdout, stderr := newBoundedBuffer(c.maxOutput()), newBoundedBuffer(c.maxOutput())
	pid := newPIDCapture(stderr)
	sess.Stdin, sess.Stdout, sess.Stderr = preludeReaderPID(c, c.Stdin, true), stdout, pid
	if err := sess.Start(remoteCommand); err != nil {
		return Result{}, fmt.Errorf("start ssh command: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	res := Result{ExitCode: -1}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timeout:
		res.TimedOut = true
	case <-ctx.Done():
	}
	if res.TimedOut || ctx.Err() != nil {
		s.kill(sess, pid)
		select {
		case <-done:
		case <-time.After(killWait):
			// The remote side did not confirm; stop waiting (the session is closed).
		}
	}
	res.Stdout, res.StdoutTruncated = stdout.result()
	res.Stderr, res.StderrTruncated = stderr.result()
	switch {
	case ctx.Err() != nil && !res.TimedOut:
		return res, ctx.Err()
	case res.TimedOut:
		return res, nil
	}
	if exitErr, ok := errors.AsType[*ssh.ExitError](waitErr); ok {
		res.ExitCode = exitErr.ExitStatus()
		if exitErr.Signal() != "" {
			res.ExitCode = -1
		}
		return res, nil
	}
	if waitErr != nil {
		// ExitMissingError or a dropped connection: the command's fate is unknown.
		return res, fmt.Errorf("ssh command: %w", waitErr)
	}
	res.ExitCode = 0
	return res, nil
}

// Start implements Runner.
func (s *SSH) Start(ctx context.Context, c Command) (Process, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	sess, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		_ = sess.Close()
		return nil, err
	}
	s.execs.Inc()
	if err := sess.Start(remoteCommand); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("start ssh command: %w", err)
	}
	errR, errW := io.Pipe()
	pid := newPIDCapture(errW)
	go func() {
		_, err := io.Copy(pid, stderr)
		_ = errW.CloseWithError(err)
	}()
	p := &sshProcess{r: s, sess: sess, pid: pid, stdin: stdin, stdout: stdout, stderr: errR, done: make(chan struct{})}
	if _, err := stdin.Write(preludeText(c, true)); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("write command prelude: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = p.Kill() })
	go func() {
		p.waitErr = sess.Wait()
		stop()
		close(p.done)
	}()
	return p, nil
}

// Close ends the connection; later calls fail with ErrClosed.
func (s *SSH) Close() error {
	s.mu.Lock()
	s.closed = true
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
