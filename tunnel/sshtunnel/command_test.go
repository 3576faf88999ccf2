package sshtunnel

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/internal/sshserver"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// commandCase is shared by the in-process and real-sshd command tests.
type commandCase struct {
	name       string
	argv       []string
	stdin      string
	wantStatus int
	wantOut    string // with {URL} and {TOKEN} substituted
	wantErr    string
}

var commandCases = []commandCase{
	{name: "environment", argv: []string{"sh", "-c", `echo "$PAPERCLIP_API_URL $PAPERCLIP_API_BRIDGE_MODE"; echo "$PAPERCLIP_API_KEY" >&2`},
		wantOut: "{URL} queue_v1\n", wantErr: "{TOKEN}\n"},
	{name: "exit status", argv: []string{"sh", "-c", "exit 42"}, wantStatus: 42},
	{name: "stdin after the token line", argv: []string{"cat"}, stdin: "line one\nline two", wantOut: "line one\nline two"},
	{name: "arguments exactly as given", argv: []string{"sh", "-c", `printf '<%s>' "$@"`, "argv0", "a b", "it's", "", "$HOME", "*"},
		wantOut: "<a b><it's><><$HOME><*>"},
	{name: "command not found", argv: []string{"clipbridge-no-such-command"}, wantStatus: 127},
}

func runCommandCases(t *testing.T, r *running) {
	t.Helper()
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr testsupport.LockedBuffer
			status, err := r.RunCommand(t.Context(), Command{
				Argv: tc.argv, BridgeToken: bridgeToken, Stdin: strings.NewReader(tc.stdin),
				Stdout: &stdout, Stderr: &stderr,
			})
			if err != nil || status != tc.wantStatus {
				t.Fatalf("RunCommand = %d, %v; want %d (stderr %q)", status, err, tc.wantStatus, stderr.String())
			}
			expand := strings.NewReplacer("{URL}", r.URL(), "{TOKEN}", bridgeToken)
			if want := expand.Replace(tc.wantOut); stdout.String() != want {
				t.Errorf("stdout = %q, want %q", stdout.String(), want)
			}
			if tc.wantErr != "" && stderr.String() != expand.Replace(tc.wantErr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), expand.Replace(tc.wantErr))
			}
		})
	}
}

// trapScript reports the signal it got and exits 7 (INT) or 8 (TERM).
const trapScript = `trap 'echo got INT; exit 7' INT; trap 'echo got TERM; exit 8' TERM; echo ready; while :; do sleep 0.05; done`

// runSignalCases forwards SIGINT through Signals and SIGTERM through ctx.
func runSignalCases(t *testing.T, r *running) {
	t.Helper()
	tests := []struct {
		name   string
		signal os.Signal // nil: cancel the context instead
		status int
		out    string
	}{
		{"SIGINT via Signals", syscall.SIGINT, 7, "ready\ngot INT\n"},
		{"SIGTERM when ctx ends", nil, 8, "ready\ngot TERM\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sigs := make(chan os.Signal, 1)
			var stdout testsupport.LockedBuffer
			done := make(chan struct{})
			var status int
			var err error
			go func() {
				defer close(done)
				status, err = r.RunCommand(ctx, Command{Argv: []string{"sh", "-c", trapScript}, BridgeToken: bridgeToken,
					Stdout: &stdout, Signals: sigs, KillGrace: 5 * time.Second})
			}()
			testsupport.Eventually(t, "command ready", 10*time.Second, func() bool { return strings.Contains(stdout.String(), "ready") })
			if tc.signal != nil {
				sigs <- tc.signal
			} else {
				cancel()
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("command did not end after the signal")
			}
			if err != nil || status != tc.status || stdout.String() != tc.out {
				t.Fatalf("RunCommand = %d, %v, out %q; want %d, %q", status, err, stdout.String(), tc.status, tc.out)
			}
		})
	}
}

func TestCommandInProcess(t *testing.T) {
	p := newInproc(t, func(o *sshserver.Options) { o.Exec = true }).listen(t)
	r := start(t, Options{SSH: p.sshOptions(), Server: serverFor(&recorder{})})
	runCommandCases(t, r)
	runSignalCases(t, r)
}

func TestCommandRejectsBadInput(t *testing.T) {
	var tun Tunnel
	for name, cmd := range map[string]Command{
		"no argv":          {BridgeToken: "x"},
		"no token":         {Argv: []string{"true"}},
		"multi-line token": {Argv: []string{"true"}, BridgeToken: "a\nb"},
	} {
		if _, err := tun.RunCommand(t.Context(), cmd); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRemoteCommandKeepsTokenOut(t *testing.T) {
	line, err := remoteCommand("http://127.0.0.1:4000", []string{"sh", "-c", `echo "$PAPERCLIP_API_URL"`})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(line, bridgeToken) {
		t.Fatalf("token in remote command line: %s", line)
	}
	if !strings.Contains(line, `'echo "$PAPERCLIP_API_URL"'`) {
		t.Errorf("argument not quoted as one word: %s", line)
	}
	if _, err := remoteCommand("u", []string{"a\x00"}); err == nil {
		t.Error("NUL argument accepted")
	}
}

// TestSecretsStayOutOfLogs runs a command and a reconnect with debug logging
// and checks that neither the bridge token nor the private key shows up.
func TestSecretsStayOutOfLogs(t *testing.T) {
	p := newInproc(t, func(o *sshserver.Options) { o.Exec = true }).listen(t)
	logs := &logBuffer{}
	r := start(t, Options{SSH: p.sshOptions(), Server: serverFor(&recorder{}), Logger: logs.logger(),
		Backoff: retry.Backoff{Initial: 20 * time.Millisecond}})
	status, err := r.RunCommand(t.Context(), Command{Argv: []string{"true"}, BridgeToken: bridgeToken})
	if err != nil || status != 0 {
		t.Fatalf("RunCommand = %d, %v", status, err)
	}
	p.srv.CloseConns()
	testsupport.Eventually(t, "tunnel down", 5*time.Second, func() bool { return !r.Up() })
	testsupport.Eventually(t, "tunnel up", 5*time.Second, r.Up)
	r.stop(t)
	text := logs.String()
	if !strings.Contains(text, "tunnel reconnected") {
		t.Fatalf("expected reconnect logs, got:\n%s", text)
	}
	if strings.Contains(text, bridgeToken) {
		t.Error("bridge token in logs")
	}
	for _, line := range strings.Split(string(p.clientPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
			t.Fatalf("private key material in logs: %q", line)
		}
	}
}
