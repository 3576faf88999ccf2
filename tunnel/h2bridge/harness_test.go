package h2bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/runner"
)

const (
	testRunToken    = "real-run-jwt-0123456789"
	testBridgeToken = "bridge-token-ABCDEFGHIJKLMNOPQRSTUV"
	testRunID       = "run-bridge"
)

// gatewayMain is what a pipeRunner process runs: RunGateway, or a fake.
type gatewayMain func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// pipeRunner "starts" gateways in-process, wired by io.Pipes: the exec
// channel without a process, so a test can cut it (sever) while the
// gateway lives on, as a dropped SSH session does.
type pipeRunner struct {
	main gatewayMain
	// unkillable: Kill only cuts the channel, as when the SSH connection
	// itself is gone and no kill can reach the gateway.
	unkillable bool
	starts     atomic.Int32
	mu         sync.Mutex
	procs      []*pipeProc
}

func (r *pipeRunner) Name() string { return "pipe" }

func (r *pipeRunner) Run(context.Context, runner.Command) (runner.Result, error) {
	return runner.Result{}, errors.New("pipeRunner runs no one-shot commands")
}

func (r *pipeRunner) Start(_ context.Context, c runner.Command) (runner.Process, error) {
	r.starts.Add(1)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeProc{inW: inW, outR: outR, errR: errR, inR: inR, outW: outW, cancel: cancel, done: make(chan struct{}), env: c.Env,
		unkillable: r.unkillable}
	main := r.main
	if main == nil {
		main = RunGateway
	}
	go func() {
		defer close(p.done)
		getenv := func(k string) string { return c.Env[k] }
		if err := main(ctx, getenv, inR, outW, errW); err != nil {
			fmt.Fprintln(errW, "[paperclip-bridge] server error:", err)
			p.code.Store(1)
		}
		_ = outW.Close()
		_ = errW.Close()
		_ = inR.Close()
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

// last is the most recently started process.
func (r *pipeRunner) last() *pipeProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procs[len(r.procs)-1]
}

type pipeProc struct {
	inW        *io.PipeWriter
	outR, errR *io.PipeReader
	inR        *io.PipeReader
	outW       *io.PipeWriter
	cancel     context.CancelFunc
	done       chan struct{}
	code       atomic.Int32
	env        map[string]string
	unkillable bool
}

func (p *pipeProc) Stdin() io.WriteCloser { return p.inW }
func (p *pipeProc) Stdout() io.Reader     { return p.outR }
func (p *pipeProc) Stderr() io.Reader     { return p.errR }

// sever cuts the channel both ways and leaves the gateway running.
func (p *pipeProc) sever() {
	_ = p.inW.CloseWithError(errors.New("channel cut"))
	_ = p.outR.CloseWithError(errors.New("channel cut"))
}

func (p *pipeProc) Kill() error {
	if !p.unkillable {
		p.cancel()
	}
	p.sever()
	return nil
}

func (p *pipeProc) Wait() (int, error) {
	<-p.done
	return int(p.code.Load()), nil
}

// stack is one bridge under test: a recording upstream, the callback API,
// and a Host over a runner.
type stack struct {
	up      *testsupport.Upstream
	host    *Host
	reg     *prometheus.Registry
	runDone chan error
	cancel  context.CancelFunc
}

type stackOptions struct {
	runner  runner.Runner
	handler http.Handler // replaces the callback API
	opts    func(*Options)
	proxy   func(*proxy.Options)
	upH     http.HandlerFunc
}

func startStack(t *testing.T, so stackOptions) *stack {
	t.Helper()
	st := &stack{up: testsupport.NewUpstream(t, so.upH), reg: prometheus.NewRegistry()}
	u, _ := url.Parse(st.up.URL)
	log := testLogger(t)
	po := proxy.Options{
		Upstream: u, RunToken: func() string { return testRunToken }, RunID: testRunID,
		BridgeToken: testBridgeToken, Rules: proxy.DefaultRules(), MaxBodyBytes: 1 << 16,
		UpstreamTimeout: 2 * time.Second, MaxInFlight: 8, Version: "test", Logger: log, Registerer: st.reg,
	}
	if so.proxy != nil {
		so.proxy(&po)
	}
	ph, err := proxy.New(po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.CloseIdle)
	srv := ph.NewServer(log)
	if so.handler != nil {
		srv.Handler = so.handler
	}
	if so.runner == nil {
		so.runner = &pipeRunner{}
	}
	o := Options{
		Runner: so.runner, Server: srv, BridgeToken: testBridgeToken, MaxBodyBytes: po.MaxBodyBytes,
		ReadyTimeout: 5 * time.Second, DrainTimeout: 3 * time.Second,
		Backoff: &retry.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		Logger:  log, Registerer: st.reg,
	}
	if so.opts != nil {
		so.opts(&o)
	}
	h, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	st.host = h
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel, st.runDone = cancel, make(chan error, 1)
	go func() { st.runDone <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-st.runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return st
}

// agent calls the gateway the way an agent does, with the bridge token.
func (st *stack) agent(t *testing.T, method, target, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, st.host.URL()+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testBridgeToken)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errJSON(msg string) string { return `{"error":"` + msg + `"}` }

// quiet is a logger for goroutines that may outlive a test's log.
var quiet = slog.New(slog.DiscardHandler)

type proxyOptions = proxy.Options

// gatewayCommand is the command a Host would start for port and nonce.
func gatewayCommand(t *testing.T, port int, nonce string) runner.Command {
	t.Helper()
	return runner.Command{Script: DefaultScript, Env: map[string]string{
		EnvBridgeMode: ModeHTTP2, EnvBridgeToken: testBridgeToken, EnvBridgePort: strconv.Itoa(port), EnvBridgeNonce: nonce,
	}}
}

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
