package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Hot-path microbenchmarks, with allocation counts, so a regression shows
// in review: go test -run XXX -bench . -benchmem ./proxy

// BenchmarkUpstreamRequest builds the outgoing request: header
// allowlist, credential, target.
func BenchmarkUpstreamRequest(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:3100/base")
	f := newForwarder(&Options{Upstream: u, RunToken: func() string { return testRunToken }, RunID: testRunID,
		Version: "bench", MaxInFlight: 1, UpstreamTimeout: time.Second}, nil, nil)
	r := httptest.NewRequest("GET", "/api/issues/i1?view=compact", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("If-None-Match", `"v1"`)
	r.Header.Set("Cookie", "dropped=1")
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	ex := &exchange{path: "/api/issues/i1", rawQuery: "view=compact", hasQuery: true}
	ctx := r.Context()
	b.ReportAllocs()
	for b.Loop() {
		_ = f.upstreamRequest(ctx, r, ex, nil, testRunToken)
	}
}

// BenchmarkHandler runs the whole callback API in-process (no agent
// socket) against a loopback upstream: the bridge's own cost per call
// plus one upstream round trip.
func BenchmarkHandler(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":"agent-demo","name":"Demo Agent","companyId":"company-demo"}`)
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = up.Serve(ln) }()
	defer up.Close()
	h := benchHandler(b, "http://"+ln.Addr().String())
	req := httptest.NewRequest("GET", "/api/agents/me", nil)
	req.Header.Set("Authorization", "Bearer "+testBridgeToken)
	req.Header.Set("Accept", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "agent-demo") {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
}

// benchHandler is the callback API with default rules and a discarded
// log, forwarding to upstream; its pooled connections close with b.
func benchHandler(b *testing.B, upstream string) *Handler {
	u, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Options{Upstream: u, RunToken: func() string { return testRunToken }, RunID: testRunID,
		BridgeToken: testBridgeToken, Rules: DefaultRules(), MaxBodyBytes: 1 << 20, UpstreamTimeout: 5 * time.Second,
		MaxInFlight: 8, Version: "bench", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.CloseIdle)
	return h
}

// BenchmarkServeLoopback is one agent call end to end through the h1
// server and the callback API over loopback sockets, with a raw agent and
// a raw upstream that allocate nothing: its allocs/op are the bridge's
// own, per request, as served in production.
func BenchmarkServeLoopback(b *testing.B) {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer upLn.Close()
	body := `{"id":"agent-demo","ok":true}`
	go rawUpstream(upLn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	h := benchHandler(b, "http://"+upLn.Addr().String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /api/agents/me HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: application/json\r\n" +
		"Authorization: Bearer " + testBridgeToken + "\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := skipResponse(br); err != nil {
			b.Fatal(err)
		}
	}
}

// rawUpstream answers every request head on every connection with resp.
func rawUpstream(ln net.Listener, resp string) {
	acceptEach(ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for skipHead(br) == nil {
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

// skipHead reads one message head, through its empty line.
func skipHead(br *bufio.Reader) error {
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(l) <= 2 {
			return nil
		}
	}
}

// skipResponse reads one response with a Content-Length body.
func skipResponse(br *bufio.Reader) error {
	n := -1
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(l) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(l, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}
