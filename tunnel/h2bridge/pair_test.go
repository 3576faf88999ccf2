package h2bridge

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paperclip's acceptance case over http2_v1: the agent's call reaches
// upstream once, with the real credential and run id, and no bridge token.
func TestPairForwards(t *testing.T) {
	st := startStack(t, stackOptions{})
	resp, body := st.agent(t, "GET", "/api/agents/me?view=compact", "", map[string]string{"If-None-Match": `"v1"`})
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	reqs := st.up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "GET" || r.RequestURI != "/api/agents/me?view=compact" || r.Header.Get("If-None-Match") != `"v1"` {
		t.Fatalf("upstream saw %s %s %v", r.Method, r.RequestURI, r.Header)
	}
	if r.Header.Get("Authorization") != "Bearer "+testRunToken || r.Header.Get("X-Paperclip-Run-Id") != testRunID {
		t.Fatalf("credentials upstream: %v", r.Header)
	}
	for k, vv := range r.Header {
		if strings.Contains(strings.Join(vv, ","), testBridgeToken) {
			t.Fatalf("bridge token upstream in %s", k)
		}
	}
}

// The READY line comes first and alone, the preface right after it.
func TestGatewayReadyThenPreface(t *testing.T) {
	r := &pipeRunner{}
	p, err := r.Start(t.Context(), gatewayCommand(t, freePort(t), testNonce))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Kill(); _, _ = p.Wait() }()
	go func() { _, _ = io.Copy(io.Discard, p.Stderr()) }()
	want := append(ReadyLine(testNonce), clientPreface...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(p.Stdout(), got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stdout starts %q (%v), want %q", got, err, want)
	}
	go func() { _, _ = io.Copy(io.Discard, p.Stdout()) }()
}

// Many calls at once share the one session, each its own stream.
func TestPairConcurrentCalls(t *testing.T) {
	st := startStack(t, stackOptions{proxy: func(o *proxyOptions) { o.MaxInFlight = 64 }})
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		wg.Go(func() {
			body := `{"i":` + strconv.Itoa(i) + `}`
			req, _ := http.NewRequestWithContext(t.Context(), "POST", st.host.URL()+"/api/issues/i-"+strconv.Itoa(i)+"/comments", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testBridgeToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(st.up.Requests()); n != 40 {
		t.Fatalf("upstream saw %d", n)
	}
	if n := st.host.o.Runner.(*pipeRunner).starts.Load(); n != 1 {
		t.Fatalf("%d gateway starts for 40 calls", n)
	}
	http.DefaultClient.CloseIdleConnections()
}

// A lost session answers 503 bridge_unavailable, and the host re-opens
// it with backoff on the same port: the agent's URL works again. The
// channel is cut as a dropped SSH connection cuts it: the old gateway
// cannot be killed, keeps the port for its grace, and the host's new
// gateways fail to bind until it is gone.
func TestLostSessionThen503ThenReconnect(t *testing.T) {
	r := &pipeRunner{unkillable: true}
	st := startStack(t, stackOptions{runner: r, opts: func(o *Options) {
		o.Env = map[string]string{EnvLossExitGraceMS: "400"}
	}})
	if resp, _ := st.agent(t, "GET", "/api/agents/me", "", nil); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	url := st.host.URL()
	r.last().sever()
	deadline := time.Now().Add(5 * time.Second)
	var saw503 bool
	for time.Now().Before(deadline) {
		resp, body := st.agentMaybe(t, "GET", "/api/agents/me")
		if resp != nil && resp.StatusCode == 503 {
			if body != errJSON("bridge_unavailable") {
				t.Fatalf("503 body %s", body)
			}
			saw503 = true
		}
		if saw503 && resp != nil && resp.StatusCode == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !saw503 {
		t.Fatal("never answered 503 bridge_unavailable")
	}
	resp, _ := st.agent(t, "GET", "/api/agents/me", "", nil)
	if resp.StatusCode != 200 || st.host.URL() != url || !st.host.Up() {
		t.Fatalf("after: %d, url %s (was %s), up %v", resp.StatusCode, st.host.URL(), url, st.host.Up())
	}
	if n := r.starts.Load(); n < 2 {
		t.Fatalf("%d starts", n)
	}
}

// agentMaybe is agent without failing on a refused connection (the
// moment between two gateways).
func (st *stack) agentMaybe(t *testing.T, method, target string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, st.host.URL()+target, nil)
	req.Header.Set("Authorization", "Bearer "+testBridgeToken)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
