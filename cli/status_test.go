package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// /status tells an operator what the sidecar is doing, and never a
// secret; `clipbridge status` prints it for a person.
func TestStatusPage(t *testing.T) {
	dead := testsupport.NewUpstream(t, nil)
	deadURL := dead.URL
	dead.Close() // every call fails: the last problem is an upstream failure
	tokenFile := filepath.Join(t.TempDir(), "jwt")
	must(t, os.WriteFile(tokenFile, []byte(runJWT+"\n"), 0o600))
	s := startSidecar(t, []string{"CLIPBRIDGE_RUN_ID=run-bridge", "CLIPBRIDGE_UPSTREAM=" + deadURL,
		"CLIPBRIDGE_UPSTREAM_TIMEOUT=2s"}, "serve", "--run-token-file", tokenFile)
	if resp, _ := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 502 {
		t.Fatalf("call to a dead upstream: %d", resp.StatusCode)
	}
	code, body := adminGet(t, s, "/status")
	if code != 200 {
		t.Fatalf("/status %d %s", code, body)
	}
	var r statusReport
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if r.Mode != "local" || !r.Ready || !r.Transport.Up || r.Transport.AgentURL != s.ready.Env.URL ||
		r.Upstream != deadURL || r.Version == "" || r.TokenFile == nil || r.TokenFile.Path != tokenFile {
		t.Fatalf("/status %+v", r)
	}
	if r.LastError == nil || r.LastError.Message != "upstream call failed" || r.LastError.At.IsZero() {
		t.Fatalf("last error %+v, want the failed upstream call", r.LastError)
	}
	for _, secret := range []string{runJWT, s.ready.Env.Key} {
		if strings.Contains(body, secret) {
			t.Fatalf("/status holds a secret:\n%s", body)
		}
	}
	out, errOut, exit := runBinary(t, nil, "status", "--admin", s.ready.AdminURL)
	if exit != 0 {
		t.Fatalf("status: exit %d %s", exit, errOut)
	}
	for _, want := range []string{"local, up", "ready", "transport", "agent URL " + s.ready.Env.URL,
		"upstream", deadURL, "0 in flight", "upstream call failed", tokenFile} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runBinary(t, nil, "status", "--admin", strings.TrimPrefix(s.ready.AdminURL, "http://"), "--json")
	if !json.Valid([]byte(out)) {
		t.Fatalf("status --json: %q", out)
	}
}
