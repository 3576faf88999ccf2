package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testRunToken    = "real-run-jwt-0123456789"
	testBridgeToken = "bridge-token-ABCDEFGHIJKLMNOPQRSTUV"
	testRunID       = "run-bridge"
)

// bridge is a proxy Handler served on a real loopback listener, so raw
// request targets reach it exactly as sent.
// bridge serves the handler with net/http, as clipbridge does.
type bridge struct {
	URL      string
	Listener net.Listener
	client   *http.Client
	reg      *prometheus.Registry
	logs     *testsupport.LockedBuffer
	h        *Handler
}

func (b *bridge) Client() *http.Client { return b.client }

func newBridge(t testing.TB, upstreamURL string, mod func(*Options)) *bridge {
	t.Helper()
	u, err := url.Parse(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testsupport.LockedBuffer{}
	reg := prometheus.NewRegistry()
	o := Options{
		Upstream:        u,
		RunToken:        func() string { return testRunToken },
		RunID:           testRunID,
		BridgeToken:     testBridgeToken,
		Rules:           DefaultRules(),
		MaxBodyBytes:    1 << 20,
		UpstreamTimeout: 2 * time.Second,
		MaxInFlight:     8,
		Version:         "test",
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:      reg,
	}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.NewServer(o.Logger)
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		<-served
		h.CloseIdle()
	})
	return &bridge{URL: "http://" + ln.Addr().String(), Listener: ln, client: &http.Client{Transport: tr},
		reg: reg, logs: logs, h: h}
}

// do sends a request through the bridge with the bridge token.
func (b *bridge) do(t *testing.T, method, target string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, b.URL+target, body)
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
	resp, err := b.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// raw writes a request exactly as given on a fresh connection and reads
// one response.
func (b *bridge) raw(t *testing.T, request string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", b.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", request, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rawGet is raw with a minimal authenticated request head.
func (b *bridge) rawGet(t *testing.T, method, target string) *http.Response {
	return b.raw(t, method+" "+target+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testBridgeToken+"\r\nConnection: close\r\n\r\n")
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

// wantError checks an answer made by the bridge itself: status, JSON
// content type, and the exact body.
func wantError(t *testing.T, resp *http.Response, status int, body string) {
	t.Helper()
	got := readBody(t, resp)
	if resp.StatusCode != status || got != body {
		t.Fatalf("got %d %s, want %d %s", resp.StatusCode, got, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content-type %q, want application/json", ct)
	}
}

func errJSON(msg string) string { return `{"error":"` + msg + `"}` }

func (b *bridge) rejected(t *testing.T, reason string) float64 {
	t.Helper()
	return b.value(t, "clipbridge_proxy_rejected_total", reason)
}

// value returns the value of the counter name whose one label is label.
func (b *bridge) value(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s series for %q", name, label)
	return 0
}

func (b *bridge) metricsText(t *testing.T) string {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		sb.WriteString(mf.String())
		sb.WriteByte('\n')
	}
	return sb.String()
}

// acceptEach runs handle on every connection ln accepts, each in its own
// goroutine, until ln is closed; the connection is closed after handle.
func acceptEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}
