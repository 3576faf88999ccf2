package h2bridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"golang.org/x/net/http2"
)

// A lost session is re-opened with jittered exponential backoff, in fake
// time: 250 ms, 500 ms, 1 s, 2 s between failed attempts, reset after a
// session that stayed up; Up is false meanwhile. Nothing here touches the
// network: the gateway is a bare HTTP/2 client on io.Pipes.
func TestReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var starts []time.Time
		failFirst := map[int]bool{2: true, 3: true, 4: true, 5: true} // attempts 2-5 fail
		cut := make(chan struct{}, 1)
		main := func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
			mu.Lock()
			starts = append(starts, time.Now())
			n := len(starts)
			mu.Unlock()
			if failFirst[n] {
				return errors.New("gateway failed to start")
			}
			_, _ = stdout.Write(ReadyLine(getenv(EnvBridgeNonce)))
			conn := newPipeConn(stdin, stdout, func() error { closeIfCloser(stdin); return nil })
			cc, err := (&http2.Transport{}).NewClientConn(conn)
			if err != nil {
				return err
			}
			defer cc.Close()
			select {
			case <-ctx.Done():
			case <-conn.Lost():
			case <-cut:
			}
			return nil
		}
		r := &pipeRunner{main: main}
		h, err := Open(t.Context(), Options{Runner: r, Server: &http.Server{Handler: http.NotFoundHandler()},
			BridgeToken: testBridgeToken, Port: 4000, Logger: quiet,
			Backoff: &retry.Backoff{Rand: func() float64 { return 0.5 }}}) // no jitter
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		synctest.Wait()
		if !h.Up() {
			t.Fatal("not up after Open")
		}
		cut <- struct{}{} // the gateway ends its session
		synctest.Wait()
		if h.Up() {
			t.Fatal("up right after the session ended")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if !h.Up() {
			t.Fatal("not up again")
		}
		mu.Lock()
		var gaps []time.Duration
		for i := 1; i < len(starts); i++ {
			gaps = append(gaps, starts[i].Sub(starts[i-1]))
		}
		mu.Unlock()
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
		if len(gaps) != len(want) {
			t.Fatalf("gaps %v, want %v", gaps, want)
		}
		for i := range want {
			if gaps[i] != want[i] {
				t.Fatalf("gaps %v, want %v", gaps, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
