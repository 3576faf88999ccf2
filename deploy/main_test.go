package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// requireToolsEnv turns a missing tool from a skip into a failure; CI sets
// it so these checks can never silently vanish.
const requireToolsEnv = "CLIPBRIDGE_REQUIRE_TOOLS"

// repoRoot is the module root, where docker-compose.yaml lives; tests run
// in the package directory.
const repoRoot = ".."

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
		os.Exit(code)
	}))
}

// requireTool returns the path of an executable, or skips the test naming
// the Debian package that provides it (fails under CLIPBRIDGE_REQUIRE_TOOLS=1).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	if os.Getenv(requireToolsEnv) == "1" {
		t.Fatalf("%s not found and %s=1: apt-get install %s", name, requireToolsEnv, pkg)
	}
	t.Skipf("skipped: %s not found (apt-get install %s; set %s=1 to fail instead)", name, pkg, requireToolsEnv)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// runTool runs a command to completion within a bound and returns its
// combined output, failing the test on a non-zero exit.
func runTool(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runToolErr(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func runToolErr(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// clipbridgeBinary builds the binary once per test run.
func clipbridgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "clipbridge-deploy-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "clipbridge")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building clipbridge: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// helpText is the output of `clipbridge <cmd> --help`: the authority on
// which flags and environment variables exist.
func helpText(t *testing.T, cmd string) string {
	t.Helper()
	return runTool(t, "", minimalEnv(t), clipbridgeBinary(t), cmd, "--help")
}

// minimalEnv keeps the host's CLIPBRIDGE_* settings out of child processes.
func minimalEnv(t *testing.T) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
}

// transports reports which optional transports the binary has wired, going
// by its serve --help.
type transports struct{ ssh, queue bool }

func wired(t *testing.T) transports {
	help := helpText(t, "serve")
	return transports{
		ssh:   strings.Contains(help, "--ssh-host"),
		queue: strings.Contains(help, "--queue-dir"),
	}
}

// pendingSetting reports whether a flag or variable belongs to a transport
// the binary does not have yet, so checks on it are deferred, not failed.
func (w transports) pendingSetting(name string) bool {
	n := strings.TrimLeft(strings.ToLower(strings.ReplaceAll(name, "_", "-")), "-")
	n = strings.TrimPrefix(n, "clipbridge-")
	switch {
	case strings.HasPrefix(n, "ssh-"), strings.HasPrefix(n, "remote-listen"):
		return !w.ssh
	case strings.HasPrefix(n, "queue-"), strings.HasPrefix(n, "runner"):
		return !w.queue
	}
	return false
}

// checkSettings fails for every flag (--x[=v]) or CLIPBRIDGE_* variable
// that serve --help does not list, and logs those deferred because their
// transport is not wired yet.
func checkSettings(t *testing.T, where string, names []string) {
	t.Helper()
	help := helpText(t, "serve")
	w := wired(t)
	for _, n := range names {
		if strings.HasPrefix(n, "--") {
			n, _, _ = strings.Cut(n, "=")
		}
		switch {
		case containsWord(help, n):
		case w.pendingSetting(n):
			t.Logf("%s: %s not checked: its transport is not in `clipbridge serve --help` yet", where, n)
		default:
			t.Errorf("%s: %s is not a setting of `clipbridge serve` (see serve --help)", where, n)
		}
	}
}

// containsWord finds name in text with no name character on either side.
func containsWord(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !isNameByte(text[start-1])) && (end == len(text) || !isNameByte(text[end])) {
			return true
		}
		i = start + 1
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
