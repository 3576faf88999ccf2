package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// agentHeaders are the only headers an answer to the agent may carry: the
// downstream allowlist plus what the bridge itself sets.
var agentHeaders = map[string]bool{
	"Content-Type": true, "Etag": true, "Last-Modified": true, policy.OutcomeHeader: true,
	"Content-Length": true, "Date": true, "Connection": true, "Retry-After": true,
}

// FuzzUpstreamResponse answers a real request through the bridge with
// arbitrary upstream bytes: a broken or hostile control plane. Whatever
// the bytes, the agent gets one well-formed answer with allowlisted
// headers only, and either upstream's complete answer, the bridge's own
// JSON error, or (only when upstream's body broke after its head went out)
// a connection cut that its HTTP client reports: never a silently short
// body, a 1xx, or a hang.
func FuzzUpstreamResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nX-Evil: 1\r\nConnection: Etag\r\nEtag: \"x\"\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.0 200 OK\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(seed))
	}

	var (
		mu      sync.Mutex
		current []byte
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				mu.Lock()
				raw := current
				mu.Unlock()
				_, _ = c.Write(raw)
			}()
		}
	}()
	f.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	b := newBridge(f, "http://"+ln.Addr().String(), nil)
	addr := b.Listener.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		mu.Lock()
		current = raw
		mu.Unlock()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "GET /api/agents/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testBridgeToken+"\r\nConnection: close\r\n\r\n")
		out, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer within 10 s; got %q", out)
		}
		checkAgentAnswer(t, raw, out)
	})
}

func checkAgentAnswer(t *testing.T, raw, out []byte) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("agent answer does not parse: %v\nupstream %q\nagent %q", err, raw, out)
	}
	if resp.StatusCode < 200 {
		t.Fatalf("agent got a %d\nupstream %q", resp.StatusCode, raw)
	}
	for k := range resp.Header {
		if !agentHeaders[k] {
			t.Fatalf("agent got header %s\nupstream %q\nagent %q", k, raw, out)
		}
	}
	body, bodyErr := io.ReadAll(resp.Body)

	// What upstream's bytes say, read the way the bridge reads them.
	exp, expErr := finalResponse(bufio.NewReader(bytes.NewReader(raw)))
	var expBody []byte
	var expBodyErr error
	if expErr == nil {
		expBody, expBodyErr = io.ReadAll(io.LimitReader(exp.Body, 1<<20+1))
	}
	relayed := expErr == nil && expBodyErr == nil && resp.StatusCode == exp.StatusCode && bytes.Equal(body, expBody)

	switch {
	case bodyErr != nil:
		// A cut is the bridge's signal for a body that broke mid-stream.
		if expErr != nil || expBodyErr == nil {
			t.Fatalf("agent body cut (%v) though upstream's answer was whole or never began\nupstream %q\nagent %q",
				bodyErr, raw, out)
		}
	case relayed:
	default:
		var eb struct{ Error string }
		if json.Unmarshal(body, &eb) != nil || !strings.HasPrefix(eb.Error, "Bridge ") {
			t.Fatalf("agent got %d %q, neither upstream's answer nor a bridge error\nupstream %q", resp.StatusCode, body, raw)
		}
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusServiceUnavailable:
		default:
			t.Fatalf("bridge error with status %d for a GET\nupstream %q", resp.StatusCode, raw)
		}
	}
}

// finalResponse reads upstream's bytes the way the bridge takes them: the
// first response that is not an interim 1xx, refused if its status is
// outside 100-599 or a protocol switch.
func finalResponse(br *bufio.Reader) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		switch {
		case err != nil:
			return nil, err
		case resp.StatusCode < 100 || resp.StatusCode > 599 || resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("status the bridge does not relay")
		case resp.StatusCode < 200:
			continue
		}
		return resp, nil
	}
}
