package worker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/relayparent"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/runner/relaywire"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// oncePoll is the one-shot store's long poll in these tests (25 s in production).
const oncePoll = 500 * time.Millisecond

// startOnceWorker runs a worker whose store is the one-shot store over the relay runner, with
// `queue-agent --once` (this test binary) on the "execution host", and returns the relay's
// parent, which counts the execs.
func startOnceWorker(t *testing.T, dir string, o Options, exec relayparent.Exec) *relayparent.Parent {
	t.Helper()
	r, p := queuetest.Relay(t, exec)
	st := newOnceStore(r, dir, 5*time.Second, oncePoll, queuetest.Logger(t))
	st.agentBin = self(t)
	startWorkerWrapped(t, "local", dir, o, func(store) store { return st })
	return p
}

// A sequential agent's call costs one exec: the one that writes its response also waits for,
// and returns, the next request. An idle queue costs one exec per long poll.
func TestOneShotExecsPerCall(t *testing.T) {
	dir := queuetest.Dir(t)
	h := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }}
	p := startOnceWorker(t, dir, Options{Handler: h}, nil)
	call := func(i int) {
		id := fmt.Sprintf("seq-%d", i)
		writeEnvelope(t, dir, paperclipRequest{ID: id, Method: "POST", Path: "/api/issues", Body: "{}"})
		if r := awaitResponse(t, dir, id); r.Status != 200 {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	call(0) // start-up: prepare, the first sweep and polls
	const calls = 10
	before := p.Execs()
	for i := 1; i <= calls; i++ {
		call(i)
	}
	if n := p.Execs() - before; n > calls {
		t.Errorf("%d calls cost %d execs, want at most one each", calls, n)
	}

	// Idle: let the last answer's poll run out, then count over whole polls.
	time.Sleep(oncePoll + 200*time.Millisecond)
	before = p.Execs()
	const polls = 6
	time.Sleep(polls * oncePoll)
	if n := p.Execs() - before; n > polls+1 {
		t.Errorf("idle for %d long polls cost %d execs, want at most one per poll", polls, n)
	} else if n == 0 {
		t.Error("no exec while idle: nothing is polling")
	}
}

// Execs that fail, return garbage or hang never cost a started mutation its real answer: the
// write is retried until it lands, and no retryable 503 is written instead.
func TestOneShotFaultsKeepTheRealAnswer(t *testing.T) {
	for _, fault := range []string{"error", "garbage", "exit", "hang"} {
		t.Run(fault, func(t *testing.T) {
			dir := queuetest.Dir(t)
			var calls atomic.Int32
			h := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Write([]byte(`{"real":true}`))
			}}
			var faulted atomic.Int32
			exec := func(ctx context.Context, req relaywire.Request) relaywire.Reply {
				if strings.Contains(req.Stdin, "\nP m1.json ") && faulted.Add(1) == 1 {
					switch fault {
					case "error":
						return relaywire.Reply{Error: "runner.execute failed: sandbox API 503"}
					case "garbage":
						code := 0
						return relaywire.Reply{ExitCode: &code, Stdout: "<html>bad gateway</html>\n"}
					case "exit":
						code := 137
						return relaywire.Reply{ExitCode: &code}
					case "hang":
						<-ctx.Done()
						return relaywire.Reply{}
					}
				}
				return relayparent.Local(ctx, req)
			}
			startOnceWorker(t, dir, Options{Handler: h}, exec)
			writeEnvelope(t, dir, paperclipRequest{ID: "m1", Method: "POST", Path: "/api/issues", Body: "{}"})
			r := awaitResponse(t, dir, "m1")
			if r.Status != 200 || r.Body != `{"real":true}` {
				t.Fatalf("the mutation got %+v", r)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("handler called %d times", n)
			}
			if faulted.Load() < 2 {
				t.Fatal("the fault was never injected")
			}
		})
	}
}

// The exec runner's one-shot option selects the one-shot store.
func TestOneShotStoreSelected(t *testing.T) {
	ex, err := runner.NewExec(runner.ExecOptions{Prefix: queuetest.ExecPrefix, OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Dir: queuetest.Dir(t), Runner: ex, Handler: http.NotFoundHandler(), Logger: queuetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.st.(*onceStore); !ok {
		t.Fatalf("store %T", w.st)
	}
	_ = w.st.Close()
}
