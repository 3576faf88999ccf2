package realsshd

import (
	"os"
	"testing"
)

// RequireEnv names the environment variable that turns a missing sshd from a
// skip into a failure; CI sets it to 1 so tier-2 tests can never silently
// vanish.
const RequireEnv = "CLIPBRIDGE_REQUIRE_SSHD"

// StartT starts sshd for a test and stops it at cleanup, printing sshd's log
// if the test failed. Without sshd the test is skipped with a visible reason,
// unless CLIPBRIDGE_REQUIRE_SSHD=1.
func StartT(t testing.TB, cfg Config) *Server {
	t.Helper()
	if !Available() {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s not found and %s=1: install openssh-server", Binary, RequireEnv)
		}
		t.Skipf("real-sshd test skipped: %s not found (apt-get install openssh-server; set %s=1 to fail instead)", Binary, RequireEnv)
	}
	s, err := Start(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		if t.Failed() {
			t.Logf("sshd log (last lines):\n%s", lastLines(s.Logs(), 40, "\n"))
		}
	})
	return s
}

// NewRelayT starts a relay to target and closes it at cleanup.
func NewRelayT(t testing.TB, target string) *Relay {
	t.Helper()
	r, err := NewRelay(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}
