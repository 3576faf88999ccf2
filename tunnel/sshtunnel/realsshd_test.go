package sshtunnel

// Tier-2 tests: the tunnel against a real OpenSSH sshd started by the test
// (internal/realsshd). They skip with a reason when sshd is missing, unless
// CLIPBRIDGE_REQUIRE_SSHD=1.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/internal/sshserver"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/sshconn"
)

// realOptions reaches s directly, or through via (a relay) when non-nil,
// with short keepalives (500 ms × 3) so faults are noticed quickly, yet
// not so short that a machine loaded by parallel -race builds trips them.
func realOptions(s *realsshd.Server, via *net.TCPAddr) sshconn.Options {
	host, port := s.Host, s.Port
	if via != nil {
		host, port = via.IP.String(), via.Port
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return sshconn.Options{
		Host:              host,
		Port:              port,
		User:              s.User,
		KeyPEM:            s.ClientKeyPEM,
		KnownHosts:        knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey),
		Getenv:            func(string) string { return "" },
		ConnectTimeout:    5 * time.Second,
		KeepaliveInterval: 500 * time.Millisecond,
		KeepaliveMax:      3,
	}
}

func TestRealCurlReachesHandler(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	rec := &recorder{}
	r := start(t, Options{SSH: realOptions(s, nil), Server: serverFor(rec)})

	// curl on the execution host, started through command mode with the
	// agent environment, exactly as an agent would call.
	var stdout, stderr testsupport.LockedBuffer
	status, err := r.RunCommand(t.Context(), Command{
		Argv:        []string{"sh", "-c", curl + ` -sS --max-time 5 -H "Authorization: Bearer $PAPERCLIP_API_KEY" "$PAPERCLIP_API_URL/api/agents/me?view=compact"`},
		BridgeToken: bridgeToken, Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil || status != 0 || !strings.Contains(stdout.String(), `"ok":true`) {
		t.Fatalf("remote curl: status %d, err %v, out %q, stderr %q", status, err, stdout.String(), stderr.String())
	}
	if got := rec.requests(); len(got) != 1 || got[0] != "GET /api/agents/me?view=compact" {
		t.Fatalf("handler saw %q", got)
	}
	// A wrong token reaches the handler too, which refuses it: the tunnel
	// adds no path around the handler.
	out, _ := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer wrong", r.URL()+"/api/x").Output()
	if string(out) != "401" {
		t.Fatalf("wrong token: HTTP %s, want 401", out)
	}
}

func TestRealTokenNotInRemotePs(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	r := start(t, Options{SSH: realOptions(s, nil), Server: serverFor(&recorder{})})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.RunCommand(t.Context(), Command{Argv: []string{"sleep", "2"}, BridgeToken: bridgeToken})
	}()
	sawEnv := false
	for {
		select {
		case <-done:
			if !sawEnv {
				t.Fatal("never found the command's process with the token in its environment")
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		pids, _ := s.SessionPIDs()
		for _, pid := range pids {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmdline), bridgeToken) {
				t.Fatalf("bridge token in remote command line of pid %d: %q", pid, cmdline)
			}
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if strings.Contains(string(env), "PAPERCLIP_API_KEY="+bridgeToken+"\x00") {
				sawEnv = true
			}
		}
		// Every other process on the host too, as `ps` would show them.
		all, _ := os.ReadDir("/proc")
		for _, e := range all {
			if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(cmdline), bridgeToken) {
				t.Fatalf("bridge token in the command line of pid %s", e.Name())
			}
		}
	}
}

func TestRealCommand(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	r := start(t, Options{SSH: realOptions(s, nil), Server: serverFor(&recorder{})})
	runCommandCases(t, r)
	runSignalCases(t, r)
}

func TestRealFirstConnectErrors(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	otherKey, otherPEM, err := sshserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	noForward := realsshd.StartT(t, realsshd.Config{AllowTCPForwarding: "no"})
	noListen := realsshd.StartT(t, realsshd.Config{PermitListen: "none"})

	tests := []struct {
		name     string
		opts     func() Options
		kind     sshconn.ErrorKind
		contains []string
	}{
		{"unknown host key", func() Options {
			o := Options{SSH: realOptions(s, nil)}
			o.SSH.KnownHosts = ""
			return o
		}, sshconn.KindHostKeyUnknown, []string{"SHA256:", "ssh-keyscan -p " + strconv.Itoa(s.Port) + " 127.0.0.1"}},
		{"changed host key", func() Options {
			o := Options{SSH: realOptions(s, nil)}
			o.SSH.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, otherKey.PublicKey())
			return o
		}, sshconn.KindHostKeyChanged, []string{"man-in-the-middle", "SHA256:"}},
		{"wrong key", func() Options {
			o := Options{SSH: realOptions(s, nil)}
			o.SSH.KeyPEM = otherPEM
			return o
		}, sshconn.KindAuth, []string{"authorized_keys"}},
		{"connection refused", func() Options {
			o := Options{SSH: realOptions(s, nil)}
			o.SSH.Port, _ = testsupport.LoopbackPort()
			return o
		}, sshconn.KindUnreachable, []string{"connection refused"}},
		{"AllowTcpForwarding no", func() Options { return Options{SSH: realOptions(noForward, nil)} },
			sshconn.KindForwardRefused, []string{"AllowTcpForwarding", "already in use"}},
		{"PermitListen none", func() Options { return Options{SSH: realOptions(noListen, nil)} },
			sshconn.KindForwardRefused, []string{"PermitListen"}},
		{"remote port taken by another process", func() Options {
			return Options{SSH: realOptions(s, nil), RemoteListen: taken.Addr().String()}
		}, sshconn.KindForwardRefused, []string{taken.Addr().String(), "already in use"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts()
			o.Server = serverFor(&recorder{})
			wantRunError(t, o, tc.kind, tc.contains)
		})
	}
}

func TestRealKillServingSession(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	r := start(t, Options{SSH: realOptions(s, nil), Server: serverFor(&recorder{})})
	url := r.URL()
	client, err := r.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if _, err := s.KillServing(client.LocalAddr(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "tunnel down", 5*time.Second, func() bool { return !r.Up() })
	testsupport.Eventually(t, "same URL serves again", 10*time.Second, func() bool {
		resp, _, err := testsupport.TryGet(t.Context(), url+"/api/x", bridgeAuth, time.Second)
		return err == nil && resp.StatusCode == 200
	})
	t.Logf("sshd session killed: same port %d serving again %s later", portOf(url), time.Since(killed).Round(time.Millisecond))
	if r.URL() != url {
		t.Fatalf("URL changed: %s -> %s", url, r.URL())
	}
}

func TestRealRestartSshd(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{})
	r := start(t, Options{SSH: realOptions(s, nil), Server: serverFor(&recorder{})})
	url := r.URL()
	restarted := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "same URL serves again", 15*time.Second, func() bool {
		resp, _, err := testsupport.TryGet(t.Context(), url+"/api/x", bridgeAuth, time.Second)
		return err == nil && resp.StatusCode == 200
	})
	t.Logf("sshd restarted: same port %d serving again %s later", portOf(url), time.Since(restarted).Round(time.Millisecond))
}

// hammer requests url every 200 ms, like an agent retrying its URL, and
// records the last success.
func hammer(ctx context.Context, url string, lastOK *atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if resp, _, err := testsupport.TryGet(ctx, url+"/api/x", bridgeAuth, 150*time.Millisecond); err == nil && resp.StatusCode == 200 {
					lastOK.Store(time.Now().UnixNano())
				}
			}
		}
	})
	return &wg
}

// TestRealStaleSessionHammered is the hard case: the link to sshd
// is black-holed, so our side declares it dead while sshd still holds the
// forwarded port for the old session, and an agent keeps hitting that port
// every 0.2 s (which postpones sshd's own ClientAlive reaping). The tunnel
// must end the stale session and take the same port back before sshd's
// ClientAlive limit (3 × 5 s) could have freed it.
func TestRealStaleSessionHammered(t *testing.T) {
	s := realsshd.StartT(t, realsshd.Config{ClientAliveInterval: 5 * time.Second, ClientAliveCountMax: 3})
	relay := realsshd.NewRelayT(t, s.Addr())
	logs := &logBuffer{}
	r := start(t, Options{SSH: realOptions(s, relay.Addr()), Server: serverFor(&recorder{}), Logger: logs.logger(),
		Backoff: retry.Backoff{Initial: 100 * time.Millisecond}})
	url := r.URL()

	ctx, cancel := context.WithCancel(t.Context())
	var lastOK atomic.Int64
	wg := hammer(ctx, url, &lastOK)
	defer func() { cancel(); wg.Wait() }()
	testsupport.Eventually(t, "hammer succeeds", 5*time.Second, func() bool { return lastOK.Load() != 0 })

	holed := time.Now()
	relay.Blackhole()
	detected := testsupport.Eventually(t, "link declared dead", 5*time.Second, func() bool { return !r.Up() })
	testsupport.Eventually(t, "same port serving again", 10*time.Second, func() bool { return lastOK.Load() > holed.UnixNano() })
	recovered := time.Duration(lastOK.Load() - holed.UnixNano())
	t.Logf("black hole under 0.2 s hammering: detected after %s (keepalive 500ms x 3), same port %d serving again after %s",
		detected.Round(time.Millisecond), portOf(url), recovered.Round(time.Millisecond))
	if !strings.Contains(logs.String(), "ended stale ssh session holding the remote port") {
		t.Errorf("recovered without ending the stale session? logs:\n%s", logs.String())
	}
	if r.URL() != url {
		t.Fatalf("URL changed: %s -> %s", url, r.URL())
	}
}

// TestRealBlackholeDetection measures how long a silently dead link takes
// to notice: with short test keepalives, and once with the defaults
// (5 s × 3, bound 15 s).
func TestRealBlackholeDetection(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		bound    time.Duration
	}{
		{"keepalive 250ms x 3", 250 * time.Millisecond, 750 * time.Millisecond},
		{"defaults 5s x 3", 0, 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.interval == 0 && testing.Short() {
				t.Skip("takes up to 15 s; skipped with -short")
			}
			s := realsshd.StartT(t, realsshd.Config{})
			relay := realsshd.NewRelayT(t, s.Addr())
			o := realOptions(s, relay.Addr())
			o.KeepaliveInterval, o.KeepaliveMax = tc.interval, 0
			r := start(t, Options{SSH: o, Server: serverFor(&recorder{})})
			holed := time.Now()
			relay.Blackhole()
			took := testsupport.Eventually(t, "link declared dead", tc.bound+2*time.Second, func() bool { return !r.Up() })
			t.Logf("black-holed link declared dead after %s (bound %s)", took.Round(time.Millisecond), tc.bound)
			if took > tc.bound+500*time.Millisecond {
				t.Errorf("detection took %s, bound %s", took, tc.bound)
			}
			testsupport.Eventually(t, "tunnel back", 10*time.Second, r.Up)
			t.Logf("tunnel back %s after the black hole", time.Since(holed).Round(time.Millisecond))
		})
	}
}
