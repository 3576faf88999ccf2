package main

import (
	"context"
	"fmt"
	"time"
)

// sample is one load run against one case.
type sample struct {
	res loadResult
	// cpu is the case's process-tree CPU time during the run.
	cpu time.Duration
}

// figure is one load shape measured for every case.
type figure struct {
	key  string
	load load
}

// figures are the loads issue 5 asks for.
func figures(d time.Duration) []figure {
	return []figure{
		{"c1", load{conns: 1, duration: d, path: smallPath}},
		{"c16", load{conns: 16, duration: d, path: smallPath}},
		{"c64", load{conns: 64, duration: d, path: smallPath}},
		{"down", load{conns: 1, duration: d, path: largePath}},
		// 64 concurrent 10 MiB uploads: the memory goal's load. Longer,
		// because each connection completes only a few uploads.
		{"up", load{conns: 64, duration: 2 * d, method: "POST", path: uploadPath, upload: largeSize}},
	}
}

// bench holds the measurements.
type bench struct {
	o       options
	wrk     *wrk
	targets []*target
	// results[case][figure] has one sample per round.
	results map[string]map[string][]sample
	// queue[case] holds the queue_v1 measurements.
	queue map[string]*queueResult
	// queueOrder is the queue cases in report order.
	queueOrder []string
}

// queueResult is one queue case's measurements.
type queueResult struct {
	calls []time.Duration
	idle  float64 // execs per second while idle
	// execs and called count the execs the calls cost, over every round.
	execs, called float64
	errors        int
	first         string // the first error, for the report
}

// perCall is how many execs a call cost, on average.
func (r *queueResult) perCall() float64 {
	if r.called == 0 {
		return 0
	}
	return r.execs / r.called
}

// measureQueue measures each queue case in alternating rounds. Each
// measurement starts the case afresh and stops it afterwards, so only
// one worker polls at a time (an idle baseline alone runs ten execs a
// second). The first round also counts execs over an idle window.
func (b *bench) measureQueue(ctx context.Context, env *environment, cases []caseSpec) error {
	b.queue = map[string]*queueResult{}
	for _, c := range cases {
		b.queue[c.name] = &queueResult{}
		b.queueOrder = append(b.queueOrder, c.name)
	}
	for round := range b.o.rounds {
		progress("queue round %d/%d", round+1, b.o.rounds)
		for i := range cases {
			c := cases[(round+i)%len(cases)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := b.queueRun(env, c, round == 0); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	return nil
}

func (b *bench) queueRun(env *environment, c caseSpec, idle bool) error {
	qt, err := env.startQueue(c)
	if err != nil {
		return err
	}
	defer qt.stop()
	cl := newCallClient(qt.target)
	defer cl.close()
	// The first call waits for the worker and gateway to be ready.
	if _, err := cl.call(); err != nil {
		return fmt.Errorf("first call: %w", err)
	}
	r := b.queue[c.name]
	if idle {
		e0, err := qt.execs()
		if err != nil {
			return err
		}
		time.Sleep(b.o.queueIdle)
		e1, err := qt.execs()
		if err != nil {
			return err
		}
		r.idle = (e1 - e0) / b.o.queueIdle.Seconds()
	}
	e0, err := qt.execs()
	if err != nil {
		return err
	}
	defer func() {
		if e1, err := qt.execs(); err == nil {
			r.execs += e1 - e0
			r.called += float64(b.o.queueCalls)
		}
	}()
	for range b.o.queueCalls {
		d, err := cl.call()
		if err != nil {
			r.errors++
			if r.first == "" {
				r.first = err.Error()
			}
			continue
		}
		r.calls = append(r.calls, d)
	}
	return nil
}

// measure runs every figure for every case, round after round, rotating
// the case order each round so no case always follows the same one.
func (b *bench) measure(ctx context.Context) error {
	progress("warming up")
	for _, t := range b.targets {
		if _, err := b.wrk.run(ctx, t.base, t.auth, t.runID, load{conns: 16, duration: time.Second, path: smallPath}); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	for _, t := range b.targets {
		b.results[t.name] = map[string][]sample{}
	}
	for round := range b.o.rounds {
		progress("round %d/%d", round+1, b.o.rounds)
		for _, f := range figures(b.o.duration) {
			for i := range b.targets {
				t := b.targets[(round+i)%len(b.targets)]
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if f.key == "up" && !t.uploads {
					continue
				}
				cpu0 := t.proc.cpu()
				res, err := b.wrk.run(ctx, t.base, t.auth, t.runID, f.load)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, f.key, err)
				}
				if res.Errors+res.StatusErrors > 0 {
					progress("%s %s: %d socket errors or timeouts, %d answers not 2xx/3xx", t.name, f.key, res.Errors, res.StatusErrors)
				}
				s := sample{res: res}
				if !t.proc.empty() {
					s.cpu = t.proc.cpu() - cpu0
				}
				b.results[t.name][f.key] = append(b.results[t.name][f.key], s)
				settle(t)
			}
		}
	}
	return nil
}

// settle lets the requests wrk abandoned at the end of a run finish
// before the next run starts: otherwise they still hold in-flight slots,
// and the next run's first requests are refused (503) for a reason that
// has nothing to do with that run.
func settle(t *target) {
	time.Sleep(100 * time.Millisecond)
	if t.admin == "" {
		time.Sleep(400 * time.Millisecond)
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if v, ok := metricValue(t.admin, "clipbridge_http_requests_in_flight"); ok && v == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricValue reads one metric from an admin /metrics.
func metricValue(admin, name string) (float64, bool) {
	v, err := metricSum(admin, name)
	return v, err == nil
}
