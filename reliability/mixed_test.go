package reliability

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// outcome is what happened to one request of a mixed load.
type outcome struct {
	method, id string
	start      time.Duration // since the load began
	took       time.Duration
	status     int    // 0 when no response came
	class      string // "ok", "documented", or a description of what is wrong
}

// mixedLoad drives workers keep-alive connections, each sending a GET,
// a GET, a POST, in turn, every request with its own id. limit is the
// longest any request may take: the bridge's --upstream-timeout plus a
// margin; longer is a hang.
type mixedLoad struct {
	addr, key string
	workers   int
	limit     time.Duration
	pause     time.Duration // between requests of one worker

	mu       sync.Mutex
	outcomes []outcome
}

// run loads until ctx ends and returns every outcome.
func (m *mixedLoad) run(ctx context.Context) []outcome {
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := range m.workers {
		wg.Go(func() { m.worker(ctx, t0, w) })
	}
	wg.Wait()
	return m.outcomes
}

func (m *mixedLoad) worker(ctx context.Context, t0 time.Time, w int) {
	var rc *rawConn
	defer func() {
		if rc != nil {
			if extra := rc.leftover(50 * time.Millisecond); len(extra) > 0 {
				m.add(outcome{id: fmt.Sprintf("w%d-end", w), class: fmt.Sprintf("%d unrequested bytes after the last answer: %.80q", len(extra), extra)})
			}
			rc.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		if rc == nil {
			var err error
			if rc, err = dialRaw(m.addr); err != nil {
				m.add(outcome{id: fmt.Sprintf("w%d-dial", w), start: time.Since(t0), class: "dial: " + err.Error()})
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		o := outcome{method: "GET", id: fmt.Sprintf("w%d-%d", w, i), start: time.Since(t0)}
		req := getReq(m.key, getPath+"?req="+o.id)
		if i%3 == 2 {
			o.method = "POST"
			req = postReq(m.key, postPath+"?req="+o.id, []byte(`{"body":"`+o.id+`"}`))
		}
		r, err := rc.roundTrip(req, m.limit)
		o.took = time.Since(t0) - o.start
		switch {
		case err != nil && timedOut(err):
			o.class = fmt.Sprintf("hung: no answer within %v", m.limit)
		case err != nil:
			o.class = "connection error: " + err.Error()
		default:
			o.status = r.status
			o.class = classify(o.method, o.id, r)
		}
		m.add(o)
		if err != nil || r.close {
			rc.Close()
			rc = nil
		}
		if m.pause > 0 {
			time.Sleep(m.pause)
		}
	}
}

func (m *mixedLoad) add(o outcome) {
	m.mu.Lock()
	m.outcomes = append(m.outcomes, o)
	m.mu.Unlock()
}

// classify checks an answer against the contract table: success with
// this request's own id, or one of the statuses documented for upstream
// trouble: 502 (not sent, any method), 503 (queue full or body budget),
// 504 (a read that failed after sending), 409 + the indeterminate header
// (a mutation that failed after sending).
func classify(method, id string, r reply) string {
	want := 200
	if method == "POST" {
		want = 201
	}
	switch r.status {
	case want:
		if got := echoed(r.body); got != id {
			return fmt.Sprintf("answer for %q received for %q (answered twice or out of step)", got, id)
		}
		return "ok"
	case 502, 503:
		return documentedError(r)
	case 504:
		if method == "GET" {
			return documentedError(r)
		}
	case 409:
		if method == "POST" && r.header.Get("X-Paperclip-Bridge-Outcome") == "indeterminate" {
			return documentedError(r)
		}
	}
	return fmt.Sprintf("undocumented answer %d %.120s", r.status, r.body)
}

func documentedError(r reply) string {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !strings.Contains(string(r.body), `"error"`) {
		return fmt.Sprintf("status %d without the JSON error body: %.120s", r.status, r.body)
	}
	return "documented"
}

// checkOutcomes fails the test for every request that hung, got an
// undocumented answer or broke its connection, for every mutation that
// reached upstream more than once or reached it although the bridge
// answered "not sent" (502), and for every success that never reached
// upstream.
func checkOutcomes(t testing.TB, outs []outcome, arr *arrivals) {
	t.Helper()
	counts := map[string]int{}
	var bad []string
	for _, o := range outs {
		key := o.class
		if o.status != 0 {
			key = fmt.Sprintf("%s %d", o.method, o.status)
		}
		if o.class != "ok" && o.class != "documented" {
			bad = append(bad, fmt.Sprintf("%s %s at %v (took %v): %s", o.method, o.id, o.start.Round(time.Millisecond), o.took.Round(time.Millisecond), o.class))
			key = "bad"
		}
		counts[key]++
		if o.method == "" {
			continue
		}
		n := arr.count(o.method, o.id)
		switch {
		case o.method == "POST" && n > 1:
			bad = append(bad, fmt.Sprintf("POST %s reached upstream %d times: a mutation was retried", o.id, n))
		case o.status == 502 && n > 0 && o.method == "POST":
			bad = append(bad, fmt.Sprintf("POST %s answered 502 (not sent) but reached upstream %d times", o.id, n))
		case o.status == 502 && n > 0:
			// A read the bridge retried after a pooled connection broke
			// (allowed for safe methods) may have reached upstream on the
			// first attempt; "not sent" is then only true of the retry.
			counts["GET 502 that had reached upstream"]++
		case o.class == "ok" && n == 0:
			bad = append(bad, fmt.Sprintf("%s %s succeeded but never reached upstream", o.method, o.id))
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s: %d", k, counts[k]))
	}
	t.Logf("%d requests; %s", len(outs), strings.Join(summary, ", "))
	if len(bad) > 0 {
		t.Errorf("%d contract violations, first ones:\n%s", len(bad), strings.Join(bad[:min(len(bad), 15)], "\n"))
	}
}

// okAfter counts successful requests that started after from.
func okAfter(outs []outcome, from time.Duration) int {
	n := 0
	for _, o := range outs {
		if o.class == "ok" && o.start >= from {
			n++
		}
	}
	return n
}
