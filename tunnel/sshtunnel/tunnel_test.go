package sshtunnel

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/sshconn"
)

func TestForwardServesHandler(t *testing.T) {
	p := newInproc(t, nil).listen(t)
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	r := start(t, Options{SSH: p.sshOptions(), Server: serverFor(rec), Registerer: reg})

	if !strings.HasPrefix(r.URL(), "http://127.0.0.1:") || r.RemoteAddr().Port() == 0 {
		t.Fatalf("URL = %q, remote %v", r.URL(), r.RemoteAddr())
	}
	if !r.Up() {
		t.Fatal("Up() = false after Ready")
	}
	resp, body := testsupport.Get(t, r.URL()+"/api/agents/me?view=compact", bridgeAuth)
	if resp.StatusCode != 200 || !strings.Contains(body, `"path":"/api/agents/me"`) {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if got := rec.requests(); len(got) != 1 || got[0] != "GET /api/agents/me?view=compact" {
		t.Fatalf("handler saw %q", got)
	}
	if v := metricValue(t, reg, "clipbridge_tunnel_up"); v != 1 {
		t.Errorf("clipbridge_tunnel_up = %v, want 1", v)
	}
	if v := metricValue(t, reg, "clipbridge_tunnel_connect_duration_seconds"); v != 1 {
		t.Errorf("connect_duration count = %v, want 1", v)
	}
	for _, name := range []string{"clipbridge_tunnel_reconnects_total", "clipbridge_tunnel_keepalive_rtt_seconds"} {
		if v := metricValue(t, reg, name); v != 0 {
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
	r.stop(t)
	if r.Up() || metricValue(t, reg, "clipbridge_tunnel_up") != 0 {
		t.Error("tunnel still up after Run returned")
	}
}

func TestFirstConnectFailuresAreClassified(t *testing.T) {
	p := newInproc(t, nil).listen(t)
	_, otherPEM, _ := sshconnTestKey()
	tests := []struct {
		name     string
		modify   func(*Options)
		kind     sshconn.ErrorKind
		contains []string
	}{
		{"forward refused", func(*Options) { p.srv.SetRefuseForwards(true) }, sshconn.KindForwardRefused,
			[]string{"AllowTcpForwarding", "PermitListen", "already in use", "--remote-listen"}},
		{"unknown host key", func(o *Options) { o.SSH.KnownHosts = "" }, sshconn.KindHostKeyUnknown, []string{"SHA256:"}},
		{"wrong key", func(o *Options) { o.SSH.KeyPEM = otherPEM }, sshconn.KindAuth, []string{"authorized_keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer p.srv.SetRefuseForwards(false)
			o := Options{SSH: p.sshOptions(), Server: serverFor(&recorder{})}
			tc.modify(&o)
			tun := wantRunError(t, o, tc.kind, tc.contains)
			if _, err := tun.Client(t.Context()); !errors.Is(err, ErrStopped) {
				t.Errorf("Client after failed Run = %v, want ErrStopped", err)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tests := map[string]Options{
		"no handler":         {SSH: sshconn.Options{Host: "h"}},
		"no host":            {Server: serverFor(&recorder{})},
		"listen not ip:port": {SSH: sshconn.Options{Host: "h"}, Server: serverFor(&recorder{}), RemoteListen: "localhost:0"},
	}
	for name, o := range tests {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestReconnectKeepsRemotePort(t *testing.T) {
	p := newInproc(t, nil).listen(t)
	reg := prometheus.NewRegistry()
	r := start(t, Options{SSH: p.sshOptions(), Server: serverFor(&recorder{}), Registerer: reg,
		Backoff: retry.Backoff{Initial: 20 * time.Millisecond}})
	url := r.URL()
	p.srv.CloseConns() // the server side of the connection dies
	testsupport.Eventually(t, "tunnel down", 5*time.Second, func() bool { return !r.Up() })
	took := testsupport.Eventually(t, "tunnel up again", 5*time.Second, r.Up)
	if r.URL() != url {
		t.Fatalf("URL changed across reconnect: %s -> %s", url, r.URL())
	}
	if resp, _ := testsupport.Get(t, url+"/api/x", bridgeAuth); resp.StatusCode != 200 {
		t.Fatalf("GET after reconnect = %d", resp.StatusCode)
	}
	if v := metricValue(t, reg, "clipbridge_tunnel_reconnects_total"); v != 1 {
		t.Errorf("reconnects_total = %v, want 1", v)
	}
	t.Logf("in-process server: reconnected in %s", took)
}

func TestInFlightRequestFailsOnDeadLink(t *testing.T) {
	p := newInproc(t, nil).listen(t)
	entered := make(chan struct{})
	handlerDone := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		close(entered)
		<-req.Context().Done()
		handlerDone <- req.Context().Err()
	})
	r := start(t, Options{SSH: p.sshOptions(), Server: serverFor(h), ShutdownTimeout: time.Second})
	clientDone := make(chan error, 1)
	go func() {
		_, _, err := testsupport.TryGet(t.Context(), r.URL()+"/slow", bridgeAuth, 20*time.Second)
		clientDone <- err
	}()
	<-entered
	p.srv.CloseConns()
	select {
	case err := <-clientDone:
		if err == nil {
			t.Fatal("request on a dead link succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request hangs after the link died")
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled after the link died")
	}
}

// TestReadHeaderTimeoutThroughTunnel fails without channelConn: x/crypto's
// channel connections ignore deadlines, so a trickled request head would
// hold the connection forever.
func TestReadHeaderTimeoutThroughTunnel(t *testing.T) {
	p := newInproc(t, nil).listen(t)
	r := start(t, Options{SSH: p.sshOptions(), Server: &http.Server{Handler: &recorder{}, ReadHeaderTimeout: 300 * time.Millisecond}})
	c, err := net.Dial("tcp", strings.TrimPrefix(r.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	line, err := bufio.NewReader(c).ReadString('\n')
	// The server answers 408 or just closes; either way well before 5 s.
	if time.Since(start) > 3*time.Second {
		t.Fatalf("slow header not cut off: %q %v after %s", line, err, time.Since(start))
	}
}
