package sshtunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/clipbridge/clipbridge/internal/sshserver"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/sshconn"
)

// bridgeToken is the per-run token the stand-in handler expects.
const bridgeToken = "bt_x9TkqC2v0LwP7mZs4RfYh1Nd8JbQe3Ua"

// bridgeAuth is the agent's request header carrying bridgeToken.
var bridgeAuth = testsupport.Bearer(bridgeToken)

// inproc is an in-process SSH server and client settings that trust it.
type inproc struct {
	srv       *sshserver.Server
	hostKey   ssh.Signer
	clientPEM []byte
	addr      *net.TCPAddr
}

func newInproc(t testing.TB, modify func(*sshserver.Options)) *inproc {
	t.Helper()
	hostKey, _, err := sshserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, clientPEM, err := sshserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o := sshserver.Options{HostKey: hostKey, AuthorizedKey: clientKey.PublicKey()}
	if modify != nil {
		modify(&o)
	}
	srv, err := sshserver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &inproc{srv: srv, hostKey: hostKey, clientPEM: clientPEM}
}

// listen puts the server on a loopback TCP port.
func (p *inproc) listen(t testing.TB) *inproc {
	t.Helper()
	addr, err := p.srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = addr.(*net.TCPAddr)
	return p
}

func (p *inproc) sshOptions() sshconn.Options {
	return sshconn.Options{
		Host:           "127.0.0.1",
		Port:           p.addr.Port,
		User:           "agent",
		KeyPEM:         p.clientPEM,
		KnownHosts:     p.srv.KnownHostsLine(p.addr.String()),
		Getenv:         func(string) string { return "" },
		ConnectTimeout: 5 * time.Second,
	}
}

// recorder is a stand-in for the callback API handler: it checks the bridge
// token and remembers what arrived.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+bridgeToken {
		http.Error(w, `{"error":"invalid bridge token"}`, http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.RequestURI())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"path":"`+req.URL.Path+`"}`)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// logBuffer collects JSON log lines for assertions.
type logBuffer struct{ testsupport.LockedBuffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a tunnel whose Run goroutine the test owns.
type running struct {
	*Tunnel
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns
	err    error         // Run's result, valid after done
}

// start runs a tunnel and waits until it is ready, failing the test if Run
// returns first.
func start(t testing.TB, o Options) *running {
	t.Helper()
	r := startAsync(t, o)
	select {
	case <-r.Ready():
	case <-r.done:
		t.Fatalf("Run returned before ready: %v", r.err)
	case <-time.After(15 * time.Second):
		t.Fatal("tunnel not ready after 15s")
	}
	return r
}

func startAsync(t testing.TB, o Options) *running {
	t.Helper()
	tun, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Tunnel: tun, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = tun.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and checks that it returns promptly and cleanly.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil && !isClassified(r.err) {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func isClassified(err error) bool {
	var e *sshconn.Error
	return errors.As(err, &e)
}

func portOf(u string) int {
	i := strings.LastIndexByte(u, ':')
	p, _ := strconv.Atoi(u[i+1:])
	return p
}

// metricValue returns a gauge or counter value, or a histogram's sample
// count; it fails the test if the series is missing.
func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// wantRunError runs a tunnel that must fail to start: Run's error must be
// of kind and mention every string in contains. It returns the tunnel for
// further checks.
func wantRunError(t *testing.T, o Options, kind sshconn.ErrorKind, contains []string) *Tunnel {
	t.Helper()
	tun, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	err = tun.Run(t.Context())
	if sshconn.KindOf(err) != kind {
		t.Fatalf("Run = %v, want kind %v", err, kind)
	}
	for _, want := range contains {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	t.Logf("%v", err)
	return tun
}

// serverFor is the tunnel's server for a test handler: what clipbridge
// passes, with the one timeout a test through the tunnel needs.
func serverFor(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}
