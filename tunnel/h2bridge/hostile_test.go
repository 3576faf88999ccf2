package h2bridge

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A hostile gateway gets past the READY check (it is in the sandbox, it
// can) and then misbehaves at the frame level. x/net's server ends the
// session; nothing reaches upstream; the host stays up and re-opens.
func TestHostileGateway(t *testing.T) {
	hdrs := func(fr *http2.Framer, id uint32, endHeaders bool) {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		kv := []string{":method", "POST", ":scheme", "http", ":authority", "bridge.internal",
			":path", "/api/issues/i-1/comments", "authorization", "Bearer " + testBridgeToken, "content-type", "application/json"}
		for i := 0; i < len(kv); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b.Bytes(), EndHeaders: endHeaders})
	}
	for _, tc := range []struct {
		name string
		act  func(fr *http2.Framer, w io.Writer)
		// ends: the session must end (a connection error); otherwise
		// only the offending streams are reset and the session lives.
		ends bool
	}{
		{"garbage instead of frames", func(fr *http2.Framer, w io.Writer) {
			_, _ = w.Write(bytes.Repeat([]byte{0xff}, 4096))
		}, true},
		{"a header block that never ends (CONTINUATION flood)", func(fr *http2.Framer, w io.Writer) {
			hdrs(fr, 1, false)
			for i := range 2000 {
				if fr.WriteContinuation(1, false, bytes.Repeat([]byte{0x40 + byte(i%10)}, 1024)) != nil {
					return
				}
			}
		}, true},
		{"DATA past the flow-control window", func(fr *http2.Framer, w io.Writer) {
			hdrs(fr, 1, true)
			chunk := bytes.Repeat([]byte("a"), maxFrameBytes)
			for range (streamReceiveWindow / maxFrameBytes) * 3 {
				if fr.WriteData(1, false, chunk) != nil {
					return
				}
			}
		}, false},
		{"a stream reset storm (rapid reset)", func(fr *http2.Framer, w io.Writer) {
			for id := uint32(1); id < 4000; id += 2 {
				hdrs(fr, id, true)
				if fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
					return
				}
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := true
			r := &pipeRunner{main: func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
				_, _ = stdout.Write(ReadyLine(getenv(EnvBridgeNonce)))
				_, _ = io.WriteString(stdout, clientPreface)
				fr := http2.NewFramer(stdout, stdin)
				_ = fr.WriteSettings()
				go func() { _, _ = io.Copy(io.Discard, stdin) }()
				if first {
					first = false
					tc.act(fr, stdout)
				}
				<-ctx.Done()
				return nil
			}}
			st := startStack(t, stackOptions{runner: r})
			if tc.ends {
				deadline := time.Now().Add(10 * time.Second)
				for r.starts.Load() < 2 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if r.starts.Load() < 2 {
					t.Fatal("the session was not ended and re-opened")
				}
				if n := len(st.up.Requests()); n != 0 {
					t.Fatalf("upstream saw %d requests", n)
				}
				return
			}
			// The offending streams end; no handler is left behind.
			deadline := time.Now().Add(10 * time.Second)
			time.Sleep(200 * time.Millisecond)
			for st.host.inFlight.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := st.host.inFlight.Load(); n > 0 || !st.host.Up() {
				t.Fatalf("%d handlers still running, up %v", n, st.host.Up())
			}
			for _, req := range st.up.Requests() {
				if len(req.Body) > streamReceiveWindow {
					t.Fatalf("upstream got %d body bytes past the stream window", len(req.Body))
				}
			}
		})
	}
}
