package cli

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

func TestHelpListsEverySetting(t *testing.T) {
	out, _, code := runBinary(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContainAll(t, out, "--upstream", "CLIPBRIDGE_UPSTREAM", "http://127.0.0.1:3100",
		"CLIPBRIDGE_RUN_TOKEN", "--run-token-file", "CLIPBRIDGE_RUN_TOKEN_FILE", "--run-id", "CLIPBRIDGE_RUN_ID",
		"CLIPBRIDGE_BRIDGE_TOKEN", "CLIPBRIDGE_BRIDGE_TOKEN_FILE", "--listen", "CLIPBRIDGE_LISTEN", "127.0.0.1:0",
		"--admin-listen", "CLIPBRIDGE_ADMIN_LISTEN", "--max-body-bytes", "CLIPBRIDGE_MAX_BODY_BYTES", "10551296",
		"--upstream-timeout", "CLIPBRIDGE_UPSTREAM_TIMEOUT", "30s", "--max-inflight", "CLIPBRIDGE_MAX_INFLIGHT", "64",
		"--routes", "CLIPBRIDGE_ROUTES", "--env-file", "CLIPBRIDGE_ENV_FILE", "--drain-timeout", "CLIPBRIDGE_DRAIN_TIMEOUT", "10s",
		"--log-format", "CLIPBRIDGE_LOG_FORMAT", "auto", "--log-level", "CLIPBRIDGE_LOG_LEVEL", "info")
	out, _, code = runBinary(t, nil, "demo", "--help")
	if code != 0 || !strings.Contains(out, "--listen") {
		t.Fatalf("demo --help: %d\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runBinary(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "clipbridge ") || !strings.Contains(out, "go1.") || !strings.Contains(out, "commit") {
		t.Fatalf("%d %q", code, out)
	}
}

// Every bad setting is reported at once, naming the setting and its value,
// and the exit status is 2; secret values are never echoed.
func TestBadSettingsExitTwo(t *testing.T) {
	_, stderr, code := runBinary(t, []string{
		"CLIPBRIDGE_RUN_TOKEN=the-secret-jwt",
		"CLIPBRIDGE_BRIDGE_TOKEN=tiny-bridge",
		"CLIPBRIDGE_MAX_INFLIGHT=lots",
	}, "serve", "--upstream", "ftp://x", "--max-body-bytes", "-5", "--upstream-timeout", "soon", "--listen", "nope", "--log-level", "loud")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	mustContainAll(t, stderr,
		`--upstream/CLIPBRIDGE_UPSTREAM "ftp://x"`,
		`--max-body-bytes/CLIPBRIDGE_MAX_BODY_BYTES "-5"`,
		`--upstream-timeout/CLIPBRIDGE_UPSTREAM_TIMEOUT "soon"`,
		`--listen/CLIPBRIDGE_LISTEN "nope"`,
		`--log-level/CLIPBRIDGE_LOG_LEVEL "loud"`,
		`--max-inflight/CLIPBRIDGE_MAX_INFLIGHT "lots" (from CLIPBRIDGE_MAX_INFLIGHT)`,
		`--run-id/CLIPBRIDGE_RUN_ID is required`,
		`bridge token (value hidden)`,
	)
	for _, secret := range []string{"the-secret-jwt", "tiny-bridge"} {
		if strings.Contains(stderr, secret) {
			t.Errorf("secret %q echoed:\n%s", secret, stderr)
		}
	}
	if _, stderr, code := runBinary(t, nil, "serve", "--no-such-flag"); code != 2 || !strings.Contains(stderr, "no-such-flag") {
		t.Fatalf("unknown flag: %d %s", code, stderr)
	}
	if _, _, code := runBinary(t, nil, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	_, stderr, code = runBinary(t, []string{"CLIPBRIDGE_RUN_ID=r"}, "serve")
	if code != 2 || !strings.Contains(stderr, "the run token is required") {
		t.Fatalf("missing run token: %d %s", code, stderr)
	}
}

func TestRoutesFileErrorsExitTwo(t *testing.T) {
	path := t.TempDir() + "/routes"
	must(t, writeFile(path, "GET ^/api/ok$\nGET /api/(unclosed\nonly-one-field\n"))
	_, stderr, code := runBinary(t, []string{"CLIPBRIDGE_RUN_TOKEN=x", "CLIPBRIDGE_RUN_ID=r"}, "serve", "--routes", path)
	if code != 2 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	mustContainAll(t, stderr, "line 2", "line 3")
}

func TestRoutesFileReplacesDefaults(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	path := t.TempDir() + "/routes"
	must(t, writeFile(path, "# only this\nGET /api/custom/[^/]+\n"))
	s := startSidecar(t, baseEnv(up.URL), "serve", "--routes", path)
	if resp, _ := agentGet(t, s, "/api/custom/x"); resp.StatusCode != 200 {
		t.Fatalf("custom route: %d", resp.StatusCode)
	}
	if resp, _ := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 403 {
		t.Fatalf("default route still allowed: %d", resp.StatusCode)
	}
}

func TestHealth(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	s := startSidecar(t, baseEnv(up.URL), "serve")
	admin := strings.TrimPrefix(s.ready.AdminURL, "http://")
	if out, stderr, code := runBinary(t, []string{"CLIPBRIDGE_ADMIN_LISTEN=" + admin}, "health"); code != 0 || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("health: %d %q %q", code, out, stderr)
	}
	sendSignal(t, s, syscall.SIGTERM)
	s.wait(t, 5*time.Second)
	if _, _, code := runBinary(t, nil, "health", "--admin", admin); code != 1 {
		t.Fatalf("health of a stopped sidecar: %d, want 1", code)
	}
	if _, _, code := runBinary(t, nil, "health"); code != 2 {
		t.Fatalf("health without an address: %d, want 2", code)
	}
}
