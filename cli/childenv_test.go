package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// sidecarSecrets are the sidecar's own secrets and unrelated variables, set in its environment
// beside the run token baseEnv gives it. No process it starts may hold any of them.
var sidecarSecrets = []string{
	"CLIPBRIDGE_SSH_KEY_PASSPHRASE=passphrase-must-not-leak",
	"CLIPBRIDGE_SSH_KEY=ssh-key-must-not-leak",
	"PAPERCLIP_API_KEY=launcher-jwt-must-not-leak",
	"FOO=bar-must-not-leak",
	"SSH_AUTH_SOCK=/nonexistent/agent-must-not-leak.sock",
}

// leakIn reports what of the sidecar's environment an environment holds: a CLIPBRIDGE_* name
// other than the gateway's own switch, or a secret value. allowAgent admits SSH_AUTH_SOCK (the
// exec runner's local client may use the agent).
func leakIn(env []string, allowAgent bool) []string {
	var leaks []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CLIPBRIDGE_") && k != "CLIPBRIDGE_GATEWAY_EXIT_ON_STDIN_EOF" {
			leaks = append(leaks, k)
		}
		if v == runJWT {
			leaks = append(leaks, k+" holds the run token")
		}
		for _, s := range sidecarSecrets {
			sk, sv, _ := strings.Cut(s, "=")
			if strings.Contains(v, sv) && !(allowAgent && sk == "SSH_AUTH_SOCK" && k == sk) {
				leaks = append(leaks, k+" holds the value of "+sk)
			}
		}
	}
	return leaks
}

// proc is one process as /proc shows it.
type proc struct {
	pid     int
	cmdline string
	env     []string
}

// descendants lists every living process below pid, read from /proc/*/stat.
func descendants(t *testing.T, pid int) []proc {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	if len(stats) == 0 {
		t.Skip("no /proc to inspect")
	}
	children := map[int][]int{}
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []proc
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		if pr, ok := readProc(p); ok {
			out = append(out, pr)
		}
	}
	return out
}

// running lists the processes whose command line names something under dir (where the gateway
// and queue agent binary is copied), whoever their parent is.
func running(t *testing.T, dir string) []proc {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []proc
	for _, c := range cmdlines {
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		if pr, ok := readProc(p); ok && strings.Contains(pr.cmdline, dir) {
			out = append(out, pr)
		}
	}
	return out
}

// readProc reads one process's command line and environment; ok is false once it is gone.
func readProc(pid int) (proc, bool) {
	env, err1 := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	cmd, err2 := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err1 != nil || err2 != nil {
		return proc{}, false
	}
	return proc{pid: pid, cmdline: strings.ReplaceAll(string(cmd), "\x00", " "),
		env: strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")}, true
}

// The finding, black-box: a sidecar in queue mode that starts our gateway (and, with the
// exec and ssh runners, the queue agent) must leave its run token, SSH key, passphrase and
// unrelated variables out of every such process's /proc/<pid>/environ, which the agent on the
// same host can read. The processes are the sidecar's descendants and, over ssh, sshd's children
// running the copied binary.
func TestChildrenDoNotInheritSecrets(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		ssh       bool
		wantProcs []string // a checked process's command line contains each
	}{
		{name: "local runner", args: []string{"--runner", "local"}, wantProcs: []string{" gateway"}},
		{name: "exec runner", args: []string{"--runner", "exec", "--runner-exec", `sh -c 'exec "$@"' sh`},
			wantProcs: []string{" gateway", " queue-agent"}},
		{name: "ssh runner", args: []string{"--runner", "ssh"}, ssh: true, wantProcs: []string{" gateway", " queue-agent"}},
		{name: "http2_v1, local runner", args: []string{"--bridge-mode", "http2_v1", "--runner", "local"}, wantProcs: []string{" gateway"}},
		{name: "http2_v1, ssh runner", args: []string{"--bridge-mode", "http2_v1", "--runner", "ssh"}, ssh: true, wantProcs: []string{" gateway"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := testsupport.NewUpstream(t, nil)
			root := t.TempDir()
			dir := filepath.Join(root, "queue")
			env := append(baseEnv(up.URL), sidecarSecrets...)
			if tc.ssh {
				srv := realsshd.StartT(t, realsshd.Config{Extra: []string{"AcceptEnv *"}})
				// The key text must parse here: the real key, looked for below.
				env = append(append(env, sshEnv(t, srv)...), "CLIPBRIDGE_SSH_KEY="+string(srv.ClientKeyPEM))
			}
			args := append([]string{"serve", "--queue-dir", dir, "--start-gateway"}, tc.args...)
			s := startSidecar(t, env, args...)
			// One call through the gateway, so every long-lived child is up and used.
			if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 {
				t.Fatalf("call through the gateway: %d %s\n%s", resp.StatusCode, body, s.stderr.String())
			}
			procs := append(descendants(t, s.cmd.Process.Pid), running(t, filepath.Join(root, "server"))...)
			for _, want := range tc.wantProcs {
				found := false
				for _, p := range procs {
					found = found || strings.Contains(p.cmdline, want)
				}
				if !found {
					t.Errorf("no process running %q among %d", want, len(procs))
				}
			}
			for _, p := range procs {
				if leaks := leakIn(p.env, tc.name == "exec runner"); len(leaks) > 0 {
					t.Errorf("pid %d (%s) inherited %v", p.pid, p.cmdline, leaks)
				}
				if strings.Contains(strings.Join(p.env, "\n"), "PRIVATE KEY") {
					t.Errorf("pid %d (%s) holds the SSH key", p.pid, p.cmdline)
				}
			}
			sendSignal(t, s, syscall.SIGTERM)
			if code := s.wait(t, 15*time.Second); code != 0 {
				t.Fatalf("exit %d\n%s", code, s.stderr.String())
			}
		})
	}
}

// "-- cmd" over a real sshd that would accept any environment request: the command sees its
// login environment and the three PAPERCLIP_API_* variables, nothing of the sidecar's.
func TestCommandDoesNotInheritSecrets(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{Extra: []string{"AcceptEnv *"}})
	up := testsupport.NewUpstream(t, nil)
	env := append(append(baseEnv(up.URL), sshEnv(t, srv)...), sidecarSecrets...)
	// The key must parse: give the real one as CLIPBRIDGE_SSH_KEY too, and look for it below.
	env = append(env, "CLIPBRIDGE_SSH_KEY="+string(srv.ClientKeyPEM))
	stdout, stderr, code := runBinary(t, env, "serve", "--", "sh", "-c", "cat /proc/self/environ")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	_, out, _ := strings.Cut(stdout, "\n") // after the ready line
	got := strings.Split(strings.TrimRight(out, "\x00"), "\x00")
	if leaks := leakIn(got, false); len(leaks) > 0 {
		t.Errorf("the command inherited %v", leaks)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("the command sees the SSH key")
	}
	mustContainAll(t, out, "PAPERCLIP_API_URL=", "PAPERCLIP_API_KEY=", "PAPERCLIP_API_BRIDGE_MODE=queue_v1")
}
