package queuetest

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/relayparent"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/sshconn"
)

// Token is the bridge token of the tests: 32 characters, like Paperclip's tokens.
const Token = "abcdefghijklmnopqrstuvwxyz012345"

// Logger logs through t at debug level.
func Logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Writer returns an io.Writer that logs each write through t (a program's stderr).
func Writer(t *testing.T) io.Writer { return testWriter{t} }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Dir makes a queue directory with Paperclip's layout: <tmp>/paperclip-bridge/queue with
// requests/, responses/ and logs/.
func Dir(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "paperclip-bridge", "queue")
	for _, d := range []string{"requests", "responses", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ExecPrefix is the exec runner's prefix in tests: a plain sh standing in for `docker exec -i`.
var ExecPrefix = []string{"sh", "-c", `exec "$@"`, "sh"}

// Runner returns a runner of the given kind to this machine: "local", "ssh" (a real OpenSSH
// sshd started for the test; skipped visibly when sshd is missing, unless
// CLIPBRIDGE_REQUIRE_SSHD=1), "exec-one-shot" (the exec runner with ExecPrefix, one-shot),
// "relay" (the relay runner, its parent a relayparent.Parent running each command here) or
// anything else for the exec runner with ExecPrefix.
func Runner(t *testing.T, kind string) runner.Runner {
	t.Helper()
	switch kind {
	case "exec-one-shot":
		ex, err := runner.NewExec(runner.ExecOptions{Prefix: ExecPrefix, OneShot: true})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	case "relay":
		r, _ := Relay(t, nil)
		return r
	case "local":
		return runner.NewLocal(runner.LocalOptions{})
	case "ssh":
		srv := realsshd.StartT(t, realsshd.Config{})
		r, err := runner.NewSSH(runner.SSHOptions{Conn: sshconn.Options{Host: srv.Host, Port: srv.Port, User: srv.User,
			KeyPEM: srv.ClientKeyPEM, KnownHosts: srv.KnownHostsLine(), NoAgent: true, NoDefaultKeys: true},
			Logger: Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	ex, err := runner.NewExec(runner.ExecOptions{Prefix: ExecPrefix})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// Relay returns a relay runner whose parent is a relayparent.Parent running each command on
// this machine (what the npm launcher does with a sandbox's runner object) with exec (nil:
// relayparent.Local), and that parent.
func Relay(t *testing.T, exec relayparent.Exec) (*runner.Relay, *relayparent.Parent) {
	t.Helper()
	child, pc, err := relayparent.Pair()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.FileConn(child) // what OpenRelayFD makes of the sidecar's fd 3
	_ = child.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.NewRelay(runner.RelayOptions{Conn: conn, Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p := &relayparent.Parent{Exec: exec}
	served := make(chan struct{})
	go func() { defer close(served); _ = p.Serve(pc) }()
	t.Cleanup(func() {
		_ = r.Close()
		_ = pc.Close()
		<-served
	})
	return r, p
}

// Eventually is testsupport.Eventually with the queue tests' bound of 10 s.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, 10*time.Second, cond)
}

// DirEntries lists a directory's names (for leftover checks).
func DirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// ISOMillis matches JavaScript's Date.toISOString(), the format of createdAt and completedAt.
var ISOMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
