package h2bridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestLoadGatewayConfig(t *testing.T) {
	base := map[string]string{EnvBridgeMode: ModeHTTP2, EnvBridgeToken: "tok", EnvBridgePort: "4100", EnvBridgeNonce: "n1"}
	for _, tc := range []struct {
		name string
		set  map[string]string
		err  string
		want GatewayConfig
	}{
		{name: "defaults", want: GatewayConfig{Token: "tok", Host: "127.0.0.1", Port: 4100, Nonce: "n1",
			MaxBodyBytes: DefaultMaxBodyBytes, LossGrace: DefaultLossExitGrace}},
		{name: "Paperclip normalisation", set: map[string]string{EnvMaxBodyBytes: "2048.9", EnvLossExitGraceMS: "-5", EnvBridgeHost: " ::1 "},
			want: GatewayConfig{Token: "tok", Host: "::1", Port: 4100, Nonce: "n1", MaxBodyBytes: 2048, LossGrace: DefaultLossExitGrace}},
		{name: "queue mode", set: map[string]string{EnvBridgeMode: "queue_v1"}, err: "Unsupported PAPERCLIP_API_BRIDGE_MODE: queue_v1"},
		{name: "retired duplex", set: map[string]string{EnvBridgeMode: "duplex_v1"}, err: "Unsupported PAPERCLIP_API_BRIDGE_MODE: duplex_v1"},
		{name: "no token", set: map[string]string{EnvBridgeToken: ""}, err: "PAPERCLIP_BRIDGE_TOKEN is required."},
		{name: "no port", set: map[string]string{EnvBridgePort: ""}, err: "http2 gateway requires a positive assigned PAPERCLIP_BRIDGE_PORT; got 0"},
		{name: "port zero", set: map[string]string{EnvBridgePort: "0"}, err: "http2 gateway requires a positive assigned PAPERCLIP_BRIDGE_PORT; got 0"},
		{name: "fractional port", set: map[string]string{EnvBridgePort: "80.5"}, err: "got 80.5"},
		{name: "negative port", set: map[string]string{EnvBridgePort: "-1"}, err: "got -1"},
		{name: "word port", set: map[string]string{EnvBridgePort: "http"}, err: "got http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			got, err := LoadGatewayConfig(func(k string) string { return env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

// The gateway binds exactly the assigned port, or fails with Paperclip's
// words, before it writes anything on stdout.
func TestGatewayBindsAssignedPortOrFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var stdout bytes.Buffer
	env := gatewayCommand(t, port, testNonce).Env
	err = RunGateway(t.Context(), func(k string) string { return env[k] }, strings.NewReader(""), &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "http2 gateway could not bind port "+strconv.Itoa(port)) {
		t.Fatalf("err %v", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout %q", stdout.String())
	}
}

// Over the one session the gateway keeps Paperclip's answer mapping: the
// host's indeterminate outcome becomes a non-retryable 409, and a plain
// 503 passes through as it came.
func TestGatewayMapsIndeterminate(t *testing.T) {
	host := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/indeterminate":
			w.Header().Set("X-Paperclip-Bridge-Outcome", "indeterminate")
			w.WriteHeader(504)
			_, _ = io.WriteString(w, `{"error":"x","outcome":"indeterminate","retryable":false}`)
		case "/busy":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"error":"busy"}`)
		}
	})
	st := startStack(t, stackOptions{handler: host})
	resp, body := st.agent(t, "POST", "/indeterminate", "{}", nil)
	if resp.StatusCode != 409 || resp.Header.Get("X-Paperclip-Bridge-Outcome") != "indeterminate" ||
		body != `{"error":"x","outcome":"indeterminate","retryable":false}` {
		t.Fatalf("got %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = st.agent(t, "GET", "/busy", "", nil)
	if resp.StatusCode != 503 || body != `{"error":"busy"}` || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

// A host-refused stream was never processed: x/net reports it with an
// error the gateway must recognise, so that it answers a retryable
// status instead of the indeterminate 409. This pins x/net's words.
func TestRefusedStreams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(fr *http2.Framer, id uint32)
	}{
		{"GOAWAY below the stream", func(fr *http2.Framer, id uint32) { _ = fr.WriteGoAway(0, http2.ErrCodeNo, nil) }},
		{"REFUSED_STREAM", func(fr *http2.Framer, id uint32) { _ = fr.WriteRSTStream(id, http2.ErrCodeRefusedStream) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv := socketPair(t)
			defer cli.Close()
			defer srv.Close()
			go func() {
				preface := make([]byte, len(clientPreface))
				if _, err := io.ReadFull(srv, preface); err != nil {
					return
				}
				fr := http2.NewFramer(srv, srv)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				_ = fr.WriteSettings()
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					if h, ok := f.(*http2.MetaHeadersFrame); ok {
						tc.write(fr, h.StreamID)
					}
				}
			}()
			cc, err := newClientTransport().NewClientConn(cli)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://bridge.internal/api/x", strings.NewReader("{}"))
			_, err = cc.RoundTrip(req)
			if err == nil || !refused(err) {
				t.Fatalf("err %v is not recognised as refused", err)
			}
			if refused(errors.New("http2: stream closed")) {
				t.Fatal("an ordinary stream error counted as refused")
			}
		})
	}
}

// socketPair is two ends of a loopback TCP connection: unlike net.Pipe,
// it buffers, as a real channel does.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}
