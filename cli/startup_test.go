package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// errorLineOf parses the one JSON error line serve prints on stdout when
// it fails before its ready line.
func errorLineOf(t *testing.T, stdout string) errorLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var e errorLine
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Event != "error" {
		t.Fatalf("stdout %q: want exactly one {\"event\":\"error\",...} line", stdout)
	}
	return e
}

// A launcher tells start-up failures apart by code, not by prose.
func TestStartupFailuresHaveCodes(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	unknownHost := sshEnv(t, srv)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(empty, nil, 0o600))
	unknownHost = append(unknownHost, "CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE="+empty)

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code string
		exit int
	}{
		{"invalid setting", baseEnv(up.URL), []string{"--max-body-bytes", "lots"}, codeConfig, 2},
		{"listen address taken", baseEnv(up.URL), []string{"--listen", taken.Addr().String()}, codeListen, 1},
		{"admin address taken", baseEnv(up.URL), []string{"--admin-listen", taken.Addr().String()}, codeListen, 1},
		{"ssh host key unknown", append(baseEnv(up.URL), unknownHost...), nil, codeSSHHostKeyUnkown, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, exit := runBinary(t, tc.env, append([]string{"serve"}, tc.args...)...)
			e := errorLineOf(t, stdout)
			if e.Code != tc.code || exit != tc.exit || e.Message == "" || !strings.Contains(stderr, e.Message[:min(20, len(e.Message))]) {
				t.Fatalf("code %q exit %d message %q, want %q and %d\nstderr:\n%s", e.Code, exit, e.Message, tc.code, tc.exit, stderr)
			}
			if strings.Contains(stdout, runJWT) || strings.Contains(stderr, runJWT) {
				t.Fatal("the run token was echoed")
			}
		})
	}
}

// Under --log-format json every stderr line is JSON, the fatal one too.
func TestFatalLineIsJSONUnderJSONLogs(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, args := range [][]string{
		{"serve", "--log-format", "json", "--listen", taken.Addr().String()},
		{"serve", "--log-format", "json", "--max-body-bytes", "lots"},
	} {
		_, stderr, _ := runBinary(t, baseEnv(up.URL), args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		for _, l := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%v: stderr line is not JSON: %q", args, l)
			}
		}
		var last map[string]any
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
		if last["level"] != "ERROR" || last["code"] == nil || last["error"] == nil {
			t.Fatalf("%v: last line %q, want the fatal ERROR record with code and error", args, lines[len(lines)-1])
		}
	}
}
