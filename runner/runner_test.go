package runner

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPrefix is an exec prefix that needs no container: `sh -c 'exec "$@"' sh <cmd…>`.
var testPrefix = []string{"sh", "-c", `exec "$@"`, "sh"}

// testRunners returns the runners every behaviour test runs against. The SSH runner joins them in
// ssh_test.go when a real sshd is available.
func testRunners(t *testing.T) map[string]Runner {
	t.Helper()
	ex, err := NewExec(ExecOptions{Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	// A prefix that re-parses its command string, as ssh does.
	exStr, err := NewExec(ExecOptions{Prefix: []string{"sh", "-c"}, StringCommand: true})
	if err != nil {
		t.Fatal(err)
	}
	rs := map[string]Runner{"local": NewLocal(LocalOptions{}), "exec": ex, "exec-string": exStr}
	for name, r := range extraRunners(t) {
		rs[name] = r
	}
	return rs
}

// extraRunners is replaced by tests that can offer more runners (see ssh_test.go).
var extraRunners = func(t *testing.T) map[string]Runner { return nil }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name       string
		cmd        Command
		wantCode   int
		wantOut    string
		wantErrOut string
		truncated  bool
		stdin      string
	}{
		{name: "args", cmd: Command{Args: []string{"echo", "hello", "it's"}}, wantOut: "hello it's\n"},
		{name: "script", cmd: Command{Script: "echo a; echo b >&2; exit 3"}, wantCode: 3, wantOut: "a\n", wantErrOut: "b\n"},
		{name: "env", cmd: Command{Script: `printf '%s|%s' "$A" "$B"`, Env: map[string]string{"A": "x'y\"z", "B": "multi\nline"}}, wantOut: "x'y\"z|multi\nline"},
		{name: "dir", cmd: Command{Script: "pwd", Dir: dir}, wantOut: dir + "\n"},
		{name: "stdin", cmd: Command{Args: []string{"cat"}}, stdin: "line1\nline2", wantOut: "line1\nline2"},
		{name: "stdin after script", cmd: Command{Script: "read a; read b; echo \"$b$a\""}, stdin: "1\n2\n", wantOut: "21\n"},
		{name: "bounded output", cmd: Command{Script: "printf 0123456789", MaxOutputBytes: 4}, wantOut: "0123", truncated: true},
		{name: "missing dir", cmd: Command{Script: "true", Dir: filepath.Join(dir, "nope")}, wantCode: -2},
	}
	for rname, r := range testRunners(t) {
		for _, tc := range cases {
			t.Run(rname+"/"+tc.name, func(t *testing.T) {
				cmd := tc.cmd
				if tc.stdin != "" {
					cmd.Stdin = strings.NewReader(tc.stdin)
				}
				res, err := r.Run(t.Context(), cmd)
				if tc.wantCode == -2 {
					// Local fails to start; the others report the cd failure as an exit code.
					if err == nil && res.ExitCode == 0 {
						t.Fatalf("missing dir: got success")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.ExitCode != tc.wantCode || string(res.Stdout) != tc.wantOut || string(res.Stderr) != tc.wantErrOut || res.StdoutTruncated != tc.truncated {
					t.Fatalf("got code=%d out=%q err=%q trunc=%v", res.ExitCode, res.Stdout, res.Stderr, res.StdoutTruncated)
				}
			})
		}
	}
}

func TestRunTimeoutKillsCommand(t *testing.T) {
	for name, r := range testRunners(t) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res, err := r.Run(t.Context(), Command{Script: "sleep 30; echo late", Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if !res.TimedOut || res.ExitCode != -1 || bytes.Contains(res.Stdout, []byte("late")) {
				t.Fatalf("got %+v", res)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("timeout took %v", d)
			}
			if err := res.Err("list /q"); err == nil || err.Error() != "list /q timed out" {
				t.Fatalf("Err = %v", err)
			}
		})
	}
}

func TestRunCancelledContext(t *testing.T) {
	for name, r := range testRunners(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if _, err := r.Run(ctx, Command{Script: "sleep 30"}); err == nil {
				t.Fatal("want context error")
			}
		})
	}
}

func TestInvalidCommand(t *testing.T) {
	r := NewLocal(LocalOptions{})
	for _, c := range []Command{{}, {Args: []string{"a"}, Script: "b"}, {Script: "x", Env: map[string]string{"BAD-KEY": "v"}}} {
		if _, err := r.Run(t.Context(), c); err == nil {
			t.Fatalf("Run(%+v) succeeded", c)
		}
	}
	if _, err := NewExec(ExecOptions{}); err == nil {
		t.Fatal("NewExec with no prefix succeeded")
	}
}

func TestStartStreams(t *testing.T) {
	for name, r := range testRunners(t) {
		t.Run(name, func(t *testing.T) {
			p, err := r.Start(t.Context(), Command{Script: `while IFS= read -r l; do echo "got $l $X"; done; echo bye >&2`, Env: map[string]string{"X": "env"}})
			if err != nil {
				t.Fatal(err)
			}
			errOut := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(p.Stderr()); errOut <- b }()
			if _, err := io.WriteString(p.Stdin(), "one\ntwo\n"); err != nil {
				t.Fatal(err)
			}
			_ = p.Stdin().Close()
			out, _ := io.ReadAll(p.Stdout())
			code, err := p.Wait()
			if err != nil || code != 0 || string(out) != "got one env\ngot two env\n" || string(<-errOut) != "bye\n" {
				t.Fatalf("code=%d err=%v out=%q", code, err, out)
			}
		})
	}
}

func TestStartKill(t *testing.T) {
	for name, r := range testRunners(t) {
		t.Run(name, func(t *testing.T) {
			p, err := r.Start(t.Context(), Command{Script: "sleep 30"})
			if err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, p.Stdout()) }()
			go func() { _, _ = io.Copy(io.Discard, p.Stderr()) }()
			done := make(chan struct{})
			go func() { _, _ = p.Wait(); close(done) }()
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("kill did not end the process")
			}
		})
	}
}

// TestSecretsNotInArgv runs a command holding a secret in its env and checks that no process on
// this machine shows the secret in its command line while it runs.
func TestSecretsNotInArgv(t *testing.T) {
	const secret = "s3cr3t-bridge-token-value"
	for name, r := range testRunners(t) {
		t.Run(name, func(t *testing.T) {
			p, err := r.Start(t.Context(), Command{Script: `echo "ready ${#TOKEN}"; read x`, Env: map[string]string{"TOKEN": secret}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Stdin().Close(); _, _ = io.Copy(io.Discard, p.Stdout()); _, _ = p.Wait() }()
			go func() { _, _ = io.Copy(io.Discard, p.Stderr()) }()
			line := make([]byte, len("ready 25\n"))
			if _, err := io.ReadFull(p.Stdout(), line); err != nil || string(line) != "ready 25\n" {
				t.Fatalf("read %q: %v", line, err)
			}
			if where := findInCmdlines(t, secret); where != "" {
				t.Fatalf("secret visible in argv of %s", where)
			}
		})
	}
}

// The sidecar's own secrets reach it through its environment (CLIPBRIDGE_RUN_TOKEN and the
// like); a command it runs, which may be the sandbox's gateway or a docker client, must not
// inherit them.
func TestSidecarSecretsNotInherited(t *testing.T) {
	for _, name := range SecretEnv {
		t.Setenv(name, "inherited-"+name)
	}
	t.Setenv("CLIPBRIDGE_LOG_FORMAT", "json") // not a secret: still inherited
	for name, r := range testRunners(t) {
		if name == "ssh" {
			continue // a remote shell never had our environment
		}
		t.Run(name, func(t *testing.T) {
			res, err := r.Run(t.Context(), Command{Args: []string{"env"}})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("env: %v %+v", err, res)
			}
			out := string(res.Stdout)
			if strings.Contains(out, "inherited-") {
				t.Fatalf("a secret was inherited:\n%s", out)
			}
			if !strings.Contains(out, "CLIPBRIDGE_LOG_FORMAT=json") {
				t.Fatalf("other variables must still be inherited:\n%s", out)
			}
		})
	}
}

// findInCmdlines returns the /proc entry whose cmdline contains s, or "".
func findInCmdlines(t *testing.T, s string) string {
	t.Helper()
	entries, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(entries) == 0 {
		t.Skip("no /proc to inspect")
	}
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err == nil && bytes.Contains(b, []byte(s)) {
			return e + ": " + strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return ""
}

func TestResultErr(t *testing.T) {
	cases := []struct {
		res  Result
		want string
	}{
		{Result{}, ""},
		{Result{ExitCode: 255, Stderr: []byte("kex_exchange_identification: reset\n")}, "list /q failed with exit code 255: kex_exchange_identification: reset"},
		{Result{ExitCode: 1, Stdout: []byte("out")}, "list /q failed with exit code 1: out"},
		{Result{TimedOut: true, ExitCode: -1}, "list /q timed out"},
	}
	for _, tc := range cases {
		err := tc.res.Err("list /q")
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("Err(%+v) = %v, want %q", tc.res, err, tc.want)
		}
	}
}

var getenv = os.Getenv
