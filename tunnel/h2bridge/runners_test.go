package h2bridge

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/sshconn"
)

// realRunner is a runner of the given kind with its exec counter in reg.
func realRunner(t *testing.T, kind string, reg prometheus.Registerer) runner.Runner {
	t.Helper()
	switch kind {
	case "local":
		return runner.NewLocal(runner.LocalOptions{Registerer: reg})
	case "exec":
		r, err := runner.NewExec(runner.ExecOptions{Prefix: []string{"sh", "-c", `exec "$@"`, "sh"}, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	srv := realsshd.StartT(t, realsshd.Config{})
	r, err := runner.NewSSH(runner.SSHOptions{Conn: sshconn.Options{Host: srv.Host, Port: srv.Port, User: srv.User,
		KeyPEM: srv.ClientKeyPEM, KnownHosts: srv.KnownHostsLine(), NoAgent: true, NoDefaultKeys: true},
		Logger: quiet, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// The built gateway (this test binary, as `<bin> gateway`) through each
// runner that has a duplex Start: one exec opens the session, and no
// call costs another; the bridge token is in no process's argv.
func TestGatewayThroughRunners(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"local", "exec", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			rn := realRunner(t, kind, reg)
			st := startStack(t, stackOptions{runner: rn, opts: func(o *Options) {
				o.Env = map[string]string{"CB_BIN": self}
			}})
			for i := range 20 {
				resp, body := st.agent(t, "POST", "/api/issues/i-"+strconv.Itoa(i)+"/comments", `{"n":1}`,
					map[string]string{"Content-Type": "application/json"})
				if resp.StatusCode != 200 || body != `{"ok":true}` {
					t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
				}
			}
			if n := execs(t, reg); n != 1 {
				t.Fatalf("%v runner execs for one session and 20 calls", n)
			}
			if leak := argvHolding(t, testBridgeToken); leak != "" {
				t.Fatalf("bridge token in argv: %s", leak)
			}
		})
	}
}

// execs is clipbridge_runner_execs_total in reg.
func execs(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "clipbridge_runner_execs_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no clipbridge_runner_execs_total")
	return 0
}

// argvHolding names a process whose command line holds s, or "".
func argvHolding(t *testing.T, s string) string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) {
			return f + ": " + strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return ""
}
