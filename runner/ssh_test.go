package runner

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/sshconn"
)

// The SSH runner joins every behaviour test in runner_test.go when a real sshd can be started
// (tier 2); without sshd those runs skip visibly unless CLIPBRIDGE_REQUIRE_SSHD=1.
func init() {
	extraRunners = func(t *testing.T) map[string]Runner {
		if !realsshd.Available() && !requireSSHD() {
			t.Logf("ssh runner not tested here: %s not found", realsshd.Binary)
			return nil
		}
		return map[string]Runner{"ssh": newTestSSH(t, realsshd.StartT(t, realsshd.Config{}))}
	}
}

func requireSSHD() bool { return strings.TrimSpace(getenv(realsshd.RequireEnv)) == "1" }

func sshOptions(srv *realsshd.Server) sshconn.Options {
	return sshconn.Options{Host: srv.Host, Port: srv.Port, User: srv.User, KeyPEM: srv.ClientKeyPEM,
		KnownHosts: srv.KnownHostsLine(), NoAgent: true, NoDefaultKeys: true,
		KeepaliveInterval: time.Second, KeepaliveMax: 3}
}

func newTestSSH(t *testing.T, srv *realsshd.Server) *SSH {
	t.Helper()
	r, err := NewSSH(SSHOptions{Conn: sshOptions(srv), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// Many commands share one connection: a single sshd session process serves them all.
func TestSSHOneConnection(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	r := newTestSSH(t, srv)
	for i := 0; i < 5; i++ {
		res, err := r.Run(t.Context(), Command{Args: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("run %d: %+v %v", i, res, err)
		}
	}
	pids, err := srv.SessionPIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 2 { // sshd's privileged monitor plus its per-connection child, at most
		t.Fatalf("%d sshd session processes for one connection: %v", len(pids), pids)
	}
}

// After the connection dies (its sshd is killed), the next command redials and runs.
func TestSSHReconnects(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	r := newTestSSH(t, srv)
	if res, err := r.Run(t.Context(), Command{Args: []string{"true"}}); err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := r.Run(t.Context(), Command{Script: "echo back"})
		if err == nil && string(res.Stdout) == "back\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v %v", res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A streaming process survives as long as its session; closing stdin ends it.
func TestSSHStartCoprocessStyle(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	r := newTestSSH(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := r.Start(ctx, Command{Script: `while IFS= read -r l; do echo "$l$SUFFIX"; done`, Env: map[string]string{"SUFFIX": "!"}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, p.Stderr()) }()
	buf := make([]byte, 4)
	for _, w := range []string{"a", "b"} {
		_, _ = io.WriteString(p.Stdin(), w+"\n")
		if _, err := io.ReadFull(p.Stdout(), buf[:3]); err != nil || string(buf[:3]) != w+"!\n" {
			t.Fatalf("%q %v", buf[:3], err)
		}
	}
	_ = p.Stdin().Close()
	if code, err := p.Wait(); code != 0 || err != nil {
		t.Fatalf("exit %d %v", code, err)
	}
}
