package h2bridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"golang.org/x/net/http2"
)

// rawGateway stands in for a gateway that is not ours: it writes the
// READY line and opens a bare HTTP/2 client session, which the test then
// drives directly, around any gateway-side check.
func rawGateway(ccs chan<- *http2.ClientConn) gatewayMain {
	return func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
		if _, err := stdout.Write(ReadyLine(getenv(EnvBridgeNonce))); err != nil {
			return err
		}
		conn := newPipeConn(stdin, stdout, func() error { closeIfCloser(stdin); return nil })
		cc, err := (&http2.Transport{}).NewClientConn(conn)
		if err != nil {
			return err
		}
		ccs <- cc
		select {
		case <-ctx.Done():
		case <-conn.Lost():
		}
		return cc.Close()
	}
}

func rawDo(t *testing.T, cc *http2.ClientConn, method, target, token string, hdr http.Header) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://bridge.internal"+target, nil)
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// The host checks everything itself, whatever the gateway did or did not
// check: the token (in constant time, before the route), the path, the
// route, and Paperclip's session limits.
func TestHostChecksEveryStream(t *testing.T) {
	ccs := make(chan *http2.ClientConn, 1)
	st := startStack(t, stackOptions{runner: &pipeRunner{main: rawGateway(ccs)}})
	cc := <-ccs
	for _, tc := range []struct {
		name, method, target, token string
		hdr                         http.Header
		status                      int
		body                        string
	}{
		{"no token", "GET", "/api/agents/me", "", nil, 401, errJSON("Invalid bridge token.")},
		{"wrong token", "GET", "/api/agents/me", "x" + testBridgeToken[1:], nil, 401, errJSON("Invalid bridge token.")},
		{"token before path", "GET", "/api/%2e%2e/x", "nope", nil, 401, errJSON("Invalid bridge token.")},
		{"encoded slash", "GET", "/api/agents%2Fme", testBridgeToken, nil, 400, errJSON("Invalid request path.")},
		{"dot segment", "GET", "/api/./agents/me", testBridgeToken, nil, 400, errJSON("Invalid request path.")},
		{"denied", "POST", "/api/companies/c/agents", testBridgeToken, nil, 403, errJSON("Route not allowed: POST /api/companies/c/agents")},
		{"allowed", "GET", "/api/agents/me", testBridgeToken, nil, 200, `{"ok":true}`},
		{"header list over 16 KiB", "GET", "/api/agents/me", testBridgeToken,
			http.Header{"Accept": {strings.Repeat("a", 17<<10)}}, 431, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := rawDo(t, cc, tc.method, tc.target, tc.token, tc.hdr)
			if err != nil {
				// x/net's client refuses to send a header list over the
				// limit the host advertised: as good as a refusal.
				if tc.status == 431 && strings.Contains(err.Error(), "header list") {
					return
				}
				t.Fatal(err)
			}
			if status != tc.status || (tc.body != "" && body != tc.body) {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
		})
	}
	if got := cc.State().MaxConcurrentStreams; got != maxConcurrentStreams {
		t.Fatalf("host advertises %d concurrent streams, want %d", got, maxConcurrentStreams)
	}
	if n := len(st.up.Requests()); n != 1 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// A READY check that fails is reported with its reason, for the fallback
// to queue_v1; the gateway is killed, and nothing is served.
func TestOpenFailures(t *testing.T) {
	wrote := func(s string) gatewayMain {
		return func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
			_, _ = io.WriteString(stdout, strings.ReplaceAll(s, "NONCE", getenv(EnvBridgeNonce)))
			<-ctx.Done()
			return nil
		}
	}
	for _, tc := range []struct {
		name   string
		main   gatewayMain
		reason string
	}{
		{"wrong nonce", wrote(string(ReadyLine("someone-else")) + clientPreface), "ready_nonce_mismatch"},
		{"READY with an address", wrote(`{"version":2,"type":"ready","nonce":"NONCE","port":80}` + "\n"), "ready_invalid"},
		{"no preface", wrote(string(ReadyLine("NONCE")) + "HTTP/1.1 200 OK\r\n"), "preface_missing"},
		{"endless output", wrote(strings.Repeat("y\n", 4000)), "contaminated"},
		{"silence", wrote(""), "ready_timeout"},
		{"exits at once", func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
			return errors.New("Unsupported PAPERCLIP_API_BRIDGE_MODE: http2_v1")
		}, "gateway_exited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &pipeRunner{main: tc.main}
			_, err := Open(t.Context(), Options{Runner: r, Server: &http.Server{Handler: http.NotFoundHandler()},
				BridgeToken: testBridgeToken, ReadyTimeout: 300 * time.Millisecond, Logger: testLogger(t)})
			if err == nil || Reason(err) != tc.reason {
				t.Fatalf("err %v (reason %q), want reason %q", err, Reason(err), tc.reason)
			}
			select {
			case <-r.last().done:
			case <-time.After(5 * time.Second):
				t.Fatal("the failed gateway is still running")
			}
		})
	}
}

// A port the execution host already uses makes the gateway fail to bind;
// Open then picks another port, and only then gives up.
func TestOpenRetriesAnotherPort(t *testing.T) {
	calls := 0
	r := &pipeRunner{main: func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
		calls++
		if calls < 3 {
			return errors.New("http2 gateway could not bind port " + getenv(EnvBridgePort) + ": address already in use")
		}
		return RunGateway(ctx, getenv, stdin, stdout, stderr)
	}}
	st := startStack(t, stackOptions{runner: r})
	if resp, _ := st.agent(t, "GET", "/api/agents/me", "", nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if calls != 3 {
		t.Fatalf("%d starts", calls)
	}
	// A fixed port is not changed behind the caller's back.
	r2 := &pipeRunner{main: func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
		return errors.New("http2 gateway could not bind port " + getenv(EnvBridgePort) + ": address already in use")
	}}
	_, err := Open(t.Context(), Options{Runner: r2, Server: &http.Server{Handler: http.NotFoundHandler()}, Port: 4242,
		BridgeToken: testBridgeToken, Logger: testLogger(t), Backoff: &retry.Backoff{}})
	if !errors.Is(err, ErrPortInUse) || r2.starts.Load() != 1 {
		t.Fatalf("err %v after %d starts", err, r2.starts.Load())
	}
}
