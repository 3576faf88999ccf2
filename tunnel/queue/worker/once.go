package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// One-shot store tuning.
const (
	// DefaultOneShotPoll is how long one exec of the one-shot store waits for a request. It is
	// the idle cost (one exec per period) and, below Paperclip's 30 s response timeout, keeps a
	// request that arrives as a poll ends from waiting long for the next one.
	DefaultOneShotPoll = 25 * time.Second
	// onceLookTotal and onceLookEach bound the request content one exec returns with its
	// listing; a larger file is read by an exec of its own.
	onceLookTotal = 4 << 20
	onceLookEach  = 1 << 20
	// onceCacheMax bounds the listed contents kept for Read.
	onceCacheMax = 8 << 20
	// onceOverdue: a poll this much older than its wait plus the operation timeout has been
	// lost by the runner; Wait reports it so the watchdog and /readyz see it.
	onceOverdue = 10 * time.Second
	// onceHoldOff is how long after handing the loop a request the store waits before it sends
	// a long poll of its own: the answer's exec, sent with no poll out, then carries the next
	// poll (one exec for the call, not two). A request that arrives meanwhile waits at most
	// this long for it; Paperclip API calls mostly answer well within it.
	onceHoldOff = 500 * time.Millisecond
	// onceSleepMS and onceIdleMS are the shell's poll ticks: the first second, then after.
	onceSleepMS = 10
	onceIdleMS  = 100
)

// onceStore serves the queue through a one-shot runner (runner.IsOneShot: the relay, or an
// exec prefix that cannot stream): each exec is one batch (tunnel/queue's coproc.go, "One-shot
// mode") that applies what is pending, then waits for the next request and returns it with its
// content. So:
//   - a response write is one exec, which also waits (up to poll) for the agent's next request:
//     a sequential agent's call costs one exec in all;
//   - while idle, the listing loop has one exec out at a time, each waiting up to poll;
//   - a write while that long poll is out is an exec of its own (it cannot join a running one);
//   - Read is answered from the contents the listing brought (an exec only for a large file);
//   - Remove and Sweep while a long poll is out ride with the next exec.
type onceStore struct {
	run       runner.Runner
	dir       string
	log       *slog.Logger
	opTimeout time.Duration
	poll      time.Duration
	agentBin  string // queue-agent --once when set (with the shell as the fallback)
	offset    atomic.Int64

	ctx    context.Context // ends the execs still out at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	deferred []string             // D and S lines for the next exec
	cur      *onceExec            // the long poll out, if any
	fresh    *onceExec            // a finished long poll whose listing Wait has not returned yet
	lastSkip map[string]bool      // the loop's last skip set
	pending  map[string]bool      // listed, and not yet written, removed or found gone
	handed   map[string]time.Time // handed to the loop unclaimed, and not yet written or done
	changed  chan struct{}        // closed (and replaced) when a poll is sent
	cache    map[string][]byte
	cached   int // bytes in cache
	draining bool
}

// onceExec is one exec in flight or done.
type onceExec struct {
	done    chan struct{}
	started time.Time
	res     onceResult
	err     error
}

// onceResult is what one exec answered: a reply per batch line, in order (fewer when it
// failed), and the L listing.
type onceResult struct {
	replies  []onceReply
	looked   bool
	names    []string
	contents map[string][]byte
}

type onceReply struct {
	code int
	text string
	data [][]byte
}

func newOnceStore(r runner.Runner, dir string, opTimeout, poll time.Duration, log *slog.Logger) *onceStore {
	ctx, cancel := context.WithCancel(context.Background())
	return &onceStore{run: r, dir: dir, log: log, opTimeout: opTimeout, poll: poll, ctx: ctx, cancel: cancel,
		pending: map[string]bool{}, handed: map[string]time.Time{}, changed: make(chan struct{}), cache: map[string][]byte{}}
}

// Prepare implements store: an empty batch, whose co-process makes the directories.
func (s *onceStore) Prepare(ctx context.Context) error {
	_, err := s.exec(ctx, nil, nil, "")
	return err
}

// Wait implements store. Wait(ctx, 0, …) lists with an exec of its own. Otherwise a listing
// that still names requests the loop has not claimed is returned at once; otherwise it waits for the long poll out, at most wait, and an unfinished
// poll stays out for the next call. It sends a poll when there is none, unless a request it
// handed the loop is being answered (see onceHoldOff).
func (s *onceStore) Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error) {
	deadline := time.Now().Add(wait)
	s.mu.Lock()
	s.lastSkip = skip
	for n := range s.handed {
		if !skip[n] {
			delete(s.handed, n) // its job ended without a write
		}
	}
	if wait <= 0 {
		lines := s.takeDeferredLocked()
		s.mu.Unlock()
		res, err := s.exec(ctx, lines, nil, s.look(0, skip))
		s.absorb(nil, res)
		if err != nil {
			s.requeue(lines, res)
			return nil, fmt.Errorf("list %s/requests: %w", s.dir, err)
		}
		return s.hand(res.names, nil)
	}
	if f := s.fresh; f != nil {
		s.fresh = nil
		s.mu.Unlock()
		return s.hand(f.listing())
	}
	for n := range s.pending {
		if !skip[n] {
			names := slices.Sorted(maps.Keys(s.pending))
			s.mu.Unlock()
			return s.hand(names, nil)
		}
	}
	p := s.cur
	for p == nil {
		hold := s.holdLocked()
		if !hold.After(time.Now()) {
			p = s.startLocked(s.takeDeferredLocked(), nil, s.look(s.poll, skip))
			break
		}
		changed := s.changed
		s.mu.Unlock()
		until := hold
		if deadline.Before(until) {
			until = deadline
		}
		t := time.NewTimer(time.Until(until))
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		if !time.Now().Before(deadline) {
			return nil, nil
		}
		s.mu.Lock()
		p = s.cur
	}
	s.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.done:
		s.mu.Lock()
		if s.fresh == p {
			s.fresh = nil
		}
		s.mu.Unlock()
		return s.hand(p.listing())
	case <-t.C:
		if age := time.Since(p.started); age > s.poll+s.opTimeout+onceOverdue {
			return nil, fmt.Errorf("list %s/requests: the poll sent %v ago has not returned", s.dir, age.Round(time.Second))
		}
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hand notes the requests of a listing the loop has not claimed: it is about to, and their
// answers' execs should carry the next poll.
func (s *onceStore) hand(names []string, err error) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, n := range names {
		if !s.lastSkip[n] {
			s.handed[n] = now
		}
	}
	return names, err
}

// holdLocked is when the store may send a poll of its own: onceHoldOff after the latest
// request it handed the loop that is still being answered, or zero.
func (s *onceStore) holdLocked() time.Time {
	var latest time.Time
	for _, at := range s.handed {
		if at.After(latest) {
			latest = at
		}
	}
	if latest.IsZero() {
		return latest
	}
	return latest.Add(onceHoldOff)
}

func (p *onceExec) listing() ([]string, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.res.names, nil
}

// Read implements store: from the listing's contents when it brought this file, else by an
// exec of its own.
func (s *onceStore) Read(ctx context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	s.mu.Lock()
	b, ok := s.cache[name]
	if ok {
		delete(s.cache, name)
		s.cached -= len(b)
	}
	s.mu.Unlock()
	if !ok {
		res, err := s.exec(ctx, []string{fmt.Sprintf("R %s %d", name, limit+1)}, nil, "")
		if err != nil {
			return nil, fmt.Errorf("read %s/requests/%s: %w", s.dir, name, err)
		}
		r := res.replies[0]
		switch r.code {
		case queue.CoprocOK:
		case queue.CoprocMissing:
			s.mu.Lock()
			delete(s.pending, name)
			delete(s.handed, name)
			s.mu.Unlock()
			return nil, queuedir.ErrNotExist
		default:
			return nil, fmt.Errorf("read %s/requests/%s: %s", s.dir, name, r.text)
		}
		if b, err = decodeBase64Lines(r.data); err != nil {
			return nil, fmt.Errorf("read %s/requests/%s: decode: %w", s.dir, name, err)
		}
	}
	switch {
	case int64(len(b)) > limit:
		return nil, queuedir.ErrTooLarge
	case !hold.Grow(int64(len(b))):
		return nil, &queuedir.BudgetError{Need: int64(len(b))}
	}
	return b, nil
}

// Write implements store. With no long poll out, its exec becomes the next one (it then also
// waits for the agent's next request, and Write returns when it does, or ctx ends); otherwise,
// and while draining, it is an exec of its own.
func (s *onceStore) Write(ctx context.Context, name string, data []byte, guard, remove bool) (queuedir.WriteResult, error) {
	line := fmt.Sprintf("P %s %s %s %d b", name, flag(guard), flag(remove), len(data))
	s.mu.Lock()
	delete(s.handed, name)
	if remove {
		delete(s.pending, name)
	}
	if b, ok := s.cache[name]; ok {
		delete(s.cache, name)
		s.cached -= len(b)
	}
	lines := append(s.takeDeferredLocked(), line)
	var res onceResult
	var err error
	if s.cur == nil && !s.draining {
		skip := maps.Clone(s.lastSkip)
		if skip == nil {
			skip = map[string]bool{}
		}
		for n := range s.pending {
			skip[n] = true
		}
		skip[name] = true
		p := s.startLocked(lines, data, s.look(s.poll, skip))
		s.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		res, err = p.res, p.err
	} else {
		s.mu.Unlock()
		res, err = s.exec(ctx, lines, data, "")
		if err != nil {
			s.requeue(lines, res)
		}
	}
	if len(res.replies) < len(lines) {
		return 0, fmt.Errorf("write bridge response %s/responses/%s: %w", s.dir, name, err)
	}
	r := res.replies[len(lines)-1]
	switch {
	case r.code == queue.CoprocLockTimeout:
		return 0, queuedir.ErrLockTimeout
	case r.code != queue.CoprocOK:
		return 0, fmt.Errorf("write bridge response %s/responses/%s: %s", s.dir, name, r.text)
	}
	switch r.text {
	case "wrote":
		return queuedir.Wrote, nil
	case "gone":
		return queuedir.SkippedGone, nil
	case "exists":
		return queuedir.SkippedExists, nil
	}
	return 0, fmt.Errorf("write bridge response %s: unexpected result %q", name, r.text)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Remove implements store. While a long poll is out, the removal rides with the next exec (at
// most one poll later) and Remove reports success at once: its callers (expired requests, the
// sweep of answered ones) need no more, and waiting would hold up the listing loop.
func (s *onceStore) Remove(ctx context.Context, name string) error {
	return s.simple(ctx, "D "+name, "remove "+name, func() { delete(s.pending, name); delete(s.handed, name) })
}

// Sweep implements store, deferred like Remove.
func (s *onceStore) Sweep(ctx context.Context) error { return s.simple(ctx, "S", "sweep", nil) }

func (s *onceStore) simple(ctx context.Context, line, action string, locked func()) error {
	s.mu.Lock()
	if locked != nil {
		locked()
	}
	if s.cur != nil {
		if !slices.Contains(s.deferred, line) {
			s.deferred = append(s.deferred, line)
		}
		s.mu.Unlock()
		return nil
	}
	lines := append(s.takeDeferredLocked(), line)
	s.mu.Unlock()
	res, err := s.exec(ctx, lines, nil, "")
	if err == nil {
		for _, r := range res.replies {
			if r.code != queue.CoprocOK {
				err = errors.New(r.text)
			}
		}
	}
	if err != nil {
		s.requeue(lines, res)
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// ClockOffset implements store, from the hello of the last exec.
func (s *onceStore) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// Reset implements store: the long poll out is disowned (its answer is dropped) and what was
// listed is forgotten, so the next Wait starts afresh. An exec cannot be cancelled over every
// runner; each ends within its own timeout.
func (s *onceStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.fresh = nil, nil
	s.pending, s.handed, s.cache, s.cached = map[string]bool{}, map[string]time.Time{}, map[string][]byte{}, 0
}

// Drain makes the writes of a stopping worker execs of their own, so none waits out a poll.
func (s *onceStore) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Close implements store: it ends the execs still out and waits for them.
func (s *onceStore) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *onceStore) takeDeferredLocked() []string {
	d := s.deferred
	s.deferred = nil
	return d
}

// requeue puts back the deferred lines (D and S) an exec did not get to answer. A P or R is
// never put back: its caller retries it, and a batch holds at most one P.
func (s *onceStore) requeue(lines []string, res onceResult) {
	if len(res.replies) >= len(lines) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines[len(res.replies):] {
		if (l == "S" || strings.HasPrefix(l, "D ")) && !slices.Contains(s.deferred, l) {
			s.deferred = append(s.deferred, l)
		}
	}
}

// look renders an L for a wait of d with skip.
func (s *onceStore) look(d time.Duration, skip map[string]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d %d", d.Milliseconds(), onceLookTotal, onceLookEach)
	for _, n := range slices.Sorted(maps.Keys(skip)) {
		b.WriteString(" " + n)
	}
	return b.String()
}

// startLocked sends an exec that will be the long poll out; its listing goes to fresh.
func (s *onceStore) startLocked(lines []string, payload []byte, look string) *onceExec {
	p := &onceExec{done: make(chan struct{}), started: time.Now()}
	s.cur = p
	close(s.changed)
	s.changed = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.res, p.err = s.exec(s.ctx, lines, payload, look)
		if p.err != nil {
			p.err = fmt.Errorf("list %s/requests: %w", s.dir, p.err)
			s.requeue(lines, p.res)
		}
		s.absorb(p, p.res)
		close(p.done)
	}()
	return p
}

// absorb keeps what an exec listed: the names as pending, the contents for Read. The answer of
// a poll that Reset disowned is dropped.
func (s *onceStore) absorb(p *onceExec, res onceResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != nil {
		if s.cur != p {
			return
		}
		s.cur, s.fresh = nil, p
	}
	if !res.looked {
		return
	}
	listed := map[string]bool{}
	for _, n := range res.names {
		listed[n] = true
	}
	for n, b := range s.cache {
		if !listed[n] {
			delete(s.cache, n)
			s.cached -= len(b)
		}
	}
	for n := range s.pending {
		if !listed[n] {
			delete(s.pending, n)
		}
	}
	for n, b := range res.contents {
		if _, ok := s.cache[n]; !ok && s.cached+len(b) <= onceCacheMax {
			s.cache[n] = b
			s.cached += len(b)
		}
	}
	for _, n := range res.names {
		if !s.lastSkip[n] {
			s.pending[n] = true
		}
	}
}
