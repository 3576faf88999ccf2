package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
	"golang.org/x/net/http2"
)

// h2Pair serves b's handler as the http2_v1 host does (x/net's
// http2.Server.ServeConn on one long-lived connection) and returns the
// client end of that one connection.
func h2Pair(t *testing.T, b *bridge) *http2.ClientConn {
	t.Helper()
	srvSide, cliSide := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		(&http2.Server{}).ServeConn(srvSide, &http2.ServeConnOpts{Handler: b.h})
	}()
	cc, err := (&http2.Transport{}).NewClientConn(cliSide)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		_ = srvSide.Close()
		<-served
	})
	return cc
}

func h2Do(t *testing.T, cc *http2.ClientConn, method, target, body, token string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://bridge.internal"+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// Over HTTP/2 every agent request is one stream of ONE long-lived
// session. A refusal of a request whose body was not read must end that
// stream only: "Connection: close" on an HTTP/2 response makes x/net's
// server send GOAWAY, which would take the whole bridge down for every
// later call.
func TestH2RefusalKeepsSession(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, func(o *Options) { o.MaxBodyBytes = 64 })
	cc := h2Pair(t, b)
	big := `{"x":"` + strings.Repeat("a", 200) + `"}`
	for _, tc := range []struct {
		name, method, target, body, token string
		status                            int
	}{
		{"wrong token with a body", "POST", "/api/issues/i-1/comments", `{"a":1}`, "nope", 401},
		{"denied route with a body", "POST", "/api/secrets", `{"a":1}`, testBridgeToken, 403},
		{"declared body over the cap", "POST", "/api/issues/i-1/comments", big, testBridgeToken, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _ := h2Do(t, cc, tc.method, tc.target, tc.body, tc.token); status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			// Give a GOAWAY, if one was sent, time to arrive.
			deadline := time.Now().Add(200 * time.Millisecond)
			for time.Now().Before(deadline) {
				if st := cc.State(); st.Closed || st.Closing {
					t.Fatalf("the session is going away after a %d: %+v", tc.status, st)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if status, body := h2Do(t, cc, "GET", "/api/agents/me", "", testBridgeToken); status != 200 {
				t.Fatalf("next call on the session: %d %s", status, body)
			}
		})
	}
}

// Upstream may answer before it has read the whole request body, and
// net/http's Transport reads that body on its own goroutine, which may
// still be reading after the handler has returned (for a declared length,
// its final read for EOF comes after the last byte went out). Over HTTP/2
// the handler's ResponseWriter is dead by then: the read deadline set
// for each body read panics inside x/net, in the Transport's goroutine,
// which takes the whole sidecar down. The reads are the sandbox's to
// time, so this is the sandbox's to trigger.
func TestH2BodyReadAfterHandlerReturns(t *testing.T) {
	bodies := make(chan *cappedBody, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := &exchange{ResponseWriter: w}
		body := &cappedBody{r: r.Body, max: 1 << 20, rc: http.NewResponseController(w), stall: time.Second, ex: ex}
		defer body.handlerDone()
		buf := make([]byte, 4)
		_, _ = body.Read(buf) // a read while the handler runs
		bodies <- body
		w.WriteHeader(http.StatusBadRequest) // answered early, body not read to its end
	})
	srvSide, cliSide := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		(&http2.Server{}).ServeConn(srvSide, &http2.ServeConnOpts{Handler: h})
	}()
	cc, err := (&http2.Transport{}).NewClientConn(cliSide)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close(); _ = srvSide.Close(); <-served }()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://bridge.internal/x", pr)
	go func() { _, _ = pw.Write([]byte("abcdefgh")) }()
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	body := <-bodies
	// What the Transport does next, after the handler has returned.
	if _, err := body.Read(make([]byte, 4)); err == nil {
		t.Fatal("a read after the handler returned succeeded")
	}
}
