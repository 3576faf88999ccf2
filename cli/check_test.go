package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// runCheckBinary runs `clipbridge check` and returns its output and status.
func runCheckBinary(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	out, stderr, code := runBinary(t, env, append([]string{"check"}, args...)...)
	return out + stderr, code
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("missing %q in:\n%s", l, out)
		}
	}
}

func TestCheckAllPass(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	out, code := runCheckBinary(t, append(baseEnv(up.URL), sshEnv(t, srv)...))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	wantLines(t, out, "✓ settings valid", "✓ upstream reachable", "✓ run token accepted", "✓ SSH reachable",
		"✓ SSH host key trusted", "✓ SSH authentication accepted", "✓ SSH forwarding permitted", "✓ remote port bindable", "preflight passed")
	if strings.Contains(out, runJWT) {
		t.Fatal("run token printed")
	}
}

func TestCheckFailures(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+runJWT {
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	ssh := sshEnv(t, srv)
	with := func(base []string, kv ...string) []string { return append(append([]string{}, base...), kv...) }

	t.Run("invalid settings", func(t *testing.T) {
		out, code := runCheckBinary(t, baseEnv(up.URL), "--max-inflight", "zero")
		if code != 2 || !strings.Contains(out, "--max-inflight") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("upstream unreachable", func(t *testing.T) {
		out, code := runCheckBinary(t, baseEnv("http://127.0.0.1:1"))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✗ upstream reachable", "fix: check --upstream", "- run token accepted")
	})
	t.Run("run token rejected", func(t *testing.T) {
		out, code := runCheckBinary(t, with(baseEnv(up.URL), "CLIPBRIDGE_RUN_TOKEN=stale-jwt"))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✓ upstream reachable", "✗ run token accepted (GET /api/agents/me): upstream answered 401", "expired")
	})
	t.Run("ssh unreachable", func(t *testing.T) {
		out, code := runCheckBinary(t, with(append(baseEnv(up.URL), ssh...), "CLIPBRIDGE_SSH_PORT=1"))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✗ SSH reachable", "- SSH host key trusted")
	})
	t.Run("host key unknown", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "kh")
		must(t, os.WriteFile(empty, nil, 0o600))
		out, code := runCheckBinary(t, with(append(baseEnv(up.URL), ssh...), "CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE="+empty))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✓ SSH reachable", "✗ SSH host key trusted", "SHA256:", "- SSH authentication accepted")
	})
	t.Run("auth rejected", func(t *testing.T) {
		other := realsshd.StartT(t, realsshd.Config{}) // a different client key
		key := filepath.Join(t.TempDir(), "other")
		must(t, os.WriteFile(key, other.ClientKeyPEM, 0o600))
		out, code := runCheckBinary(t, with(append(baseEnv(up.URL), ssh...), "CLIPBRIDGE_SSH_KEY_FILE="+key))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✓ SSH host key trusted", "✗ SSH authentication accepted", "- SSH forwarding permitted")
	})
	t.Run("forwarding disabled", func(t *testing.T) {
		off := realsshd.StartT(t, realsshd.Config{AllowTCPForwarding: "no"})
		out, code := runCheckBinary(t, append(baseEnv(up.URL), sshEnv(t, off)...))
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		wantLines(t, out, "✓ SSH authentication accepted", "✗ SSH forwarding permitted", "AllowTcpForwarding", "- remote port bindable")
	})
	t.Run("remote port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // the execution host is this machine
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		out, code := runCheckBinary(t, append(baseEnv(up.URL), ssh...), "--remote-listen", "127.0.0.1:"+port)
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		wantLines(t, out, "✓ SSH forwarding permitted", "✗ remote port bindable", "in use")
	})
	t.Run("queue dir not writable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		must(t, os.WriteFile(file, nil, 0o600))
		out, code := runCheckBinary(t, baseEnv(up.URL), "--queue-dir", filepath.Join(file, "queue"))
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		wantLines(t, out, "✗ queue dir writable through the local runner", "fix: create the directory")
	})
	t.Run("queue dir over ssh", func(t *testing.T) {
		out, code := runCheckBinary(t, append(baseEnv(up.URL), ssh...), "--queue-dir", filepath.Join(t.TempDir(), "q"))
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		wantLines(t, out, "✓ queue dir writable through the ssh runner")
	})
}

// check --json prints one JSON report a launcher can act on: ok, and
// each step with its status and, for a failure, the problem and the fix.
func TestCheckJSON(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	for _, tc := range []struct {
		name     string
		upstream string
		ok       bool
		code     int
		failed   string
	}{
		{"all pass", up.URL, true, 0, ""},
		{"upstream unreachable", "http://127.0.0.1:1", false, 1, "upstream reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, code := runBinary(t, baseEnv(tc.upstream), "check", "--json")
			var report struct {
				OK    bool        `json:"ok"`
				Steps []checkStep `json:"steps"`
			}
			if err := json.Unmarshal([]byte(stdout), &report); err != nil || strings.Count(strings.TrimSpace(stdout), "\n") != 0 {
				t.Fatalf("stdout is not one JSON report: %v\n%s", err, stdout)
			}
			if report.OK != tc.ok || code != tc.code || len(report.Steps) < 2 {
				t.Fatalf("ok %v exit %d steps %+v", report.OK, code, report.Steps)
			}
			for _, s := range report.Steps {
				if s.Name == tc.failed && (s.Status != "fail" || s.Problem == "" || s.Fix == "") {
					t.Fatalf("step %+v, want a failure with problem and fix", s)
				}
			}
			if strings.Contains(stdout, runJWT) {
				t.Fatal("run token printed")
			}
		})
	}
}
