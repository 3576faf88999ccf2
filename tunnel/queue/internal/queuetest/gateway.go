package queuetest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// Gateway is a gateway program (gateway.Run) running in-process until Stop or the test's end.
type Gateway struct {
	// Dir is its queue directory; BaseURL where it listens (from its ready line).
	Dir, BaseURL string
	// ReadyLine is the JSON line it printed on stdout once listening.
	ReadyLine string
	// Stdin is its stdin; Done receives Run's result.
	Stdin io.WriteCloser
	Done  chan error

	cancel context.CancelFunc
	once   sync.Once
}

// StartGateway runs run with env, plus a fresh queue directory (Dir), Token and port 0 unless
// env sets them, and waits for its ready line.
func StartGateway(t *testing.T, run Program, env map[string]string) *Gateway {
	t.Helper()
	full := map[string]string{queue.EnvQueueDir: Dir(t), queue.EnvBridgeToken: Token, queue.EnvBridgePort: "0"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	g := &Gateway{Dir: full[queue.EnvQueueDir], cancel: cancel, Done: make(chan error, 1), Stdin: inW}
	go func() {
		err := run(ctx, func(k string) string { return full[k] }, inR, outW, Writer(t))
		_ = outW.CloseWithError(io.EOF)
		g.Done <- err
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if err != nil {
		cancel()
		t.Fatalf("no ready line: %v (run: %v)", err, <-g.Done)
	}
	g.ReadyLine = strings.TrimSpace(line)
	var ready struct {
		BaseURL string `json:"baseUrl"`
	}
	if err := json.Unmarshal([]byte(g.ReadyLine), &ready); err != nil {
		t.Fatal(err)
	}
	g.BaseURL = ready.BaseURL
	t.Cleanup(func() { g.Stop(t) })
	return g
}

// Stop cancels the gateway and returns Run's result; later calls return nil.
func (g *Gateway) Stop(t *testing.T) error {
	var err error
	g.once.Do(func() {
		g.cancel()
		_ = g.Stdin.Close()
		select {
		case err = <-g.Done:
		case <-time.After(10 * time.Second):
			t.Fatal("gateway did not stop")
		}
	})
	return err
}

// Do sends a request to the gateway with the bridge token; a header given as "" is removed
// (Authorization included), others are set.
func (g *Gateway) Do(t *testing.T, method, target string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.BaseURL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
