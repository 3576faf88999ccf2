package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/clipbridge/clipbridge/runner/relaywire"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Relay defaults.
const (
	// DefaultRelayMaxInFlight bounds the commands the sidecar has at its parent at once. The
	// launcher accepts at least as many (its own bound is 16), so it never has to refuse one.
	DefaultRelayMaxInFlight = 8
	// DefaultRelayTimeout is the timeoutMs sent for a Command without a Timeout: execute must
	// always be bounded, because the parent cannot cancel it otherwise.
	DefaultRelayTimeout = 10 * time.Minute
	// relayGrace is how long past the timeout the sidecar waits for the parent's reply before
	// it reports the command timed out itself: the parent enforces the timeout too, so a
	// reply later than this means the parent is wedged, and Run must not hang with it.
	relayGrace = 5 * time.Second
	// relayWriteTimeout bounds writing one request. A parent that reads nothing for this long
	// is wedged; a half-written frame cannot be taken back, so the relay then closes.
	relayWriteTimeout = 30 * time.Second
)

// ErrOneShot reports Start on a runner that can only run one-shot commands (stdin given up
// front, output at the end), such as the relay runner.
var ErrOneShot = errors.New("this runner runs one-shot commands only and cannot stream")

// ErrRelayClosed reports a command that could not complete because the relay to the parent is
// gone (the parent exited, closed the socket, or broke the protocol).
var ErrRelayClosed = errors.New("relay to the parent process is closed")

// OneShot is implemented by runners whose Start cannot work; callers that need a long-lived
// duplex process (the queue co-process, the gateway) use their one-shot designs instead.
type OneShot interface {
	// OneShot reports that Start returns ErrOneShot.
	OneShot() bool
}

// IsOneShot reports whether r can only run one-shot commands.
func IsOneShot(r Runner) bool {
	o, ok := r.(OneShot)
	return ok && o.OneShot()
}

// RelayOptions configures NewRelay.
type RelayOptions struct {
	// Conn is the private socket to the parent (OpenRelayFD). The relay owns it and closes it.
	Conn net.Conn
	// MaxInFlight bounds commands at the parent at once; zero means DefaultRelayMaxInFlight.
	MaxInFlight int
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// Registerer receives clipbridge_runner_execs_total; nil registers nothing.
	Registerer prometheus.Registerer
}

// Relay asks the process that started the sidecar to run each command, over a private socket
// (relay_wire.go). The npm launcher carries each request out with its sandbox target's
// runner.execute, which is how Paperclip reaches E2B, Daytona, Modal and other sandboxes.
//
// As with the exec runner, the argv is the constant bootstrap and the environment, working
// directory and script go through stdin, so neither the message's argv nor the sandbox's
// process list shows a value. Stdin that is not text (the gateway binary) is sent base64 and
// decoded on the far side, because execute takes stdin as a string.
//
// The relay is one-shot: Start returns ErrOneShot. When the parent goes away (the socket reaches
// EOF) every pending Run fails and Watch returns, so the sidecar ends with its parent.
type Relay struct {
	conn  net.Conn
	log   *slog.Logger
	execs prometheus.Counter
	slots chan struct{} // one token per command at the parent
	wmu   sync.Mutex    // one frame at a time on the wire

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan relaywire.Reply
	done    chan struct{} // closed when the reader ends
	err     error         // why it ended
}

var _ Runner = (*Relay)(nil)

// NewRelay starts reading replies from o.Conn; Close stops it.
func NewRelay(o RelayOptions) (*Relay, error) {
	if o.Conn == nil {
		return nil, errors.New("relay runner needs a connection to its parent")
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultRelayMaxInFlight
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{conn: o.Conn, log: log, execs: execCounter(o.Registerer, "relay"),
		slots: make(chan struct{}, o.MaxInFlight), pending: map[uint64]chan relaywire.Reply{}, done: make(chan struct{})}
	go r.read()
	return r, nil
}

// Name implements Runner.
func (*Relay) Name() string { return "relay" }

// OneShot implements OneShot.
func (*Relay) OneShot() bool { return true }

// Start implements Runner: the relay cannot stream.
func (*Relay) Start(context.Context, Command) (Process, error) { return nil, ErrOneShot }

// Watch returns nil when ctx ends, or an error wrapping ErrRelayClosed as soon as the relay is
// gone: a sidecar whose parent died has nobody to run its commands and must end too.
func (r *Relay) Watch(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-r.done:
		return r.closedErr()
	}
}

// Close closes the socket and waits for the reader to end.
func (r *Relay) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

func (r *Relay) closedErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Errorf("%w: %v", ErrRelayClosed, r.err)
}

// read delivers replies to their Run calls until the socket fails, then fails every pending one.
func (r *Relay) read() {
	var err error
	for {
		var rep relaywire.Reply
		if err = relaywire.ReadFrame(r.conn, relaywire.MaxFrameBytes, &rep); err != nil {
			break
		}
		r.mu.Lock()
		ch, ok := r.pending[rep.ID]
		delete(r.pending, rep.ID)
		r.mu.Unlock()
		if !ok {
			// A reply to a command Run gave up on (its parent-side timeout passed): dropped.
			r.log.Debug("relay reply for no pending command", "id", rep.ID)
			continue
		}
		ch <- rep // buffered: never blocks
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = errors.New("the parent closed the relay")
	}
	_ = r.conn.Close()
	r.mu.Lock()
	r.err = err
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, ch := range pending {
		close(ch)
	}
	close(r.done)
}

// Run implements Runner.
func (r *Relay) Run(ctx context.Context, c Command) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	req, err := relayRequestFor(c)
	if err != nil {
		return Result{}, err
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-r.done:
		return Result{}, r.closedErr()
	}
	ch := make(chan relaywire.Reply, 1)
	r.mu.Lock()
	if r.pending == nil {
		r.mu.Unlock()
		<-r.slots
		return Result{}, r.closedErr()
	}
	r.nextID++
	req.ID = r.nextID
	r.pending[req.ID] = ch
	r.mu.Unlock()

	// The slot is held until the parent answers or the wait below would have given up, even
	// when ctx ends first: the parent cannot cancel execute, so the command still counts there.
	deadline := time.NewTimer(timeout + relayGrace)
	release := sync.OnceFunc(func() {
		deadline.Stop()
		r.forget(req.ID)
		<-r.slots
	})
	r.execs.Inc()
	if err := r.send(req); err != nil {
		release()
		return Result{}, err
	}
	select {
	case rep, ok := <-ch:
		release()
		if !ok {
			return Result{}, r.closedErr()
		}
		return resultOf(rep, c.maxOutput())
	case <-deadline.C:
		release()
		r.log.Warn("relay parent did not answer within the command's timeout", "id", req.ID, "timeout", timeout.String())
		return Result{ExitCode: -1, TimedOut: true}, nil
	case <-ctx.Done():
		go func() {
			select {
			case <-ch:
			case <-deadline.C:
			}
			release()
		}()
		return Result{}, ctx.Err()
	}
}

// forget drops a pending id, so a late reply is recognised as one.
func (r *Relay) forget(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil {
		delete(r.pending, id)
	}
}

// send writes one request. A failed or timed-out write may have left half a frame on the wire,
// so it closes the relay.
func (r *Relay) send(req relaywire.Request) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_ = r.conn.SetWriteDeadline(time.Now().Add(relayWriteTimeout))
	err := relaywire.WriteFrame(r.conn, req)
	_ = r.conn.SetWriteDeadline(time.Time{})
	if err != nil {
		var tooLarge *relaywire.FrameTooLargeError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: %v", ErrInvalidCommand, err) // nothing was written
		}
		_ = r.conn.Close()
		return fmt.Errorf("%w: write: %v", ErrRelayClosed, err)
	}
	return nil
}

// relayRequestFor renders c as a request: the bootstrap as argv, and the prelude (env, cwd,
// script) followed by c.Stdin as stdin.
func relayRequestFor(c Command) (relaywire.Request, error) {
	var stdin []byte
	if c.Stdin != nil {
		b, err := io.ReadAll(io.LimitReader(c.Stdin, relaywire.MaxStdinBytes+1))
		if err != nil {
			return relaywire.Request{}, fmt.Errorf("read command stdin: %w", err)
		}
		if len(b) > relaywire.MaxStdinBytes {
			return relaywire.Request{}, fmt.Errorf("%w: stdin over the relay's %d-byte limit", ErrInvalidCommand, relaywire.MaxStdinBytes)
		}
		stdin = b
	}
	payload := append(preludeText(c, false), stdin...)
	args := bootstrapArgv[1:]
	if !utf8.Valid(payload) || bytes.IndexByte(payload, 0) >= 0 {
		// execute takes stdin as a string: bytes that are not text would not survive it.
		payload = []byte(base64.StdEncoding.EncodeToString(payload))
		args = []string{"-c", base64Bootstrap}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultRelayTimeout
	}
	return relaywire.Request{Type: "exec", Command: bootstrapArgv[0], Args: args, Stdin: string(payload),
		TimeoutMs: max(timeout.Milliseconds(), 1), MaxOutputBytes: c.maxOutput()}, nil
}

// base64Bootstrap decodes a base64 stdin and hands it to the bootstrap. bootstrapScript holds no
// single quote, so quoting it in one is safe. A host without base64 gives the bootstrap empty
// input, which it answers with exit status 127.
const base64Bootstrap = `base64 -d | sh -c '` + bootstrapScript + `'`

// resultOf turns a reply into a Result, bounding each stream to max bytes again (the parent
// truncates, but the sidecar does not rely on it).
func resultOf(rep relaywire.Reply, max int) (Result, error) {
	if rep.Error != "" {
		msg := rep.Error
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		return Result{}, fmt.Errorf("relay: the parent could not run the command: %s", msg)
	}
	res := Result{ExitCode: -1, TimedOut: rep.TimedOut, StdoutTruncated: rep.StdoutTruncated, StderrTruncated: rep.StderrTruncated}
	if rep.ExitCode != nil && !rep.TimedOut {
		res.ExitCode = *rep.ExitCode
	}
	res.Stdout, res.StdoutTruncated = bound([]byte(rep.Stdout), max, res.StdoutTruncated)
	res.Stderr, res.StderrTruncated = bound([]byte(rep.Stderr), max, res.StderrTruncated)
	return res, nil
}

func bound(b []byte, max int, truncated bool) ([]byte, bool) {
	if len(b) > max {
		return b[:max], true
	}
	return b, truncated
}
