package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clipbridge/clipbridge/internal/realsshd"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
		os.Exit(code)
	}))
}

// requireToolsEnv turns a missing node or dev-tool install from a skip into a failure; CI sets it.
const requireToolsEnv = "CLIPBRIDGE_REQUIRE_TOOLS"

// toolTimeout bounds each npm, tsc, vitest or build.sh run.
const toolTimeout = 10 * time.Minute

// platforms are the platform packages, in the order build.sh and platform.ts list them.
var platforms = []string{"linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"}

type manifest struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Type                 string            `json:"type"`
	OS                   []string          `json:"os"`
	CPU                  []string          `json:"cpu"`
	Files                []string          `json:"files"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// The version lives in one place, and every other manifest and list agrees with it: the
// launcher's optionalDependencies name each platform package at exactly its version, the
// platform packages declare their os and cpu (and no version: build.sh stamps it), and the
// launcher and the build script know the same platforms.
func TestManifestsAgree(t *testing.T) {
	launcher := readManifest(t, "clipbridge/package.json")
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(launcher.Version) {
		t.Fatalf("clipbridge/package.json version %q is not semver", launcher.Version)
	}
	if launcher.Type != "module" {
		t.Errorf("clipbridge/package.json type %q, want module (the launcher ships as ESM)", launcher.Type)
	}
	want := map[string]string{}
	for _, p := range platforms {
		want["@clipbridge/"+p] = launcher.Version
		m := readManifest(t, filepath.Join("@clipbridge", p, "package.json"))
		goos, cpu, _ := strings.Cut(p, "-")
		if m.Name != "@clipbridge/"+p || !slices.Equal(m.OS, []string{goos}) || !slices.Equal(m.CPU, []string{cpu}) ||
			!slices.Equal(m.Files, []string{"bin/clipbridge"}) {
			t.Errorf("@clipbridge/%s/package.json: %+v", p, m)
		}
		if m.Version != "" {
			t.Errorf("@clipbridge/%s/package.json has version %q: build.sh stamps it from clipbridge/package.json", p, m.Version)
		}
	}
	if fmt.Sprint(launcher.OptionalDependencies) != fmt.Sprint(want) {
		t.Errorf("clipbridge/package.json optionalDependencies %v, want %v", launcher.OptionalDependencies, want)
	}
	for file, re := range map[string]*regexp.Regexp{
		"clipbridge/src/platform.ts": regexp.MustCompile(`PLATFORMS = \[([^\]]*)\]`),
		"build.sh":                   regexp.MustCompile(`(?m)^all="([^"]*)"`),
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no platform list", file)
		}
		got := strings.Fields(strings.NewReplacer(`"`, " ", ",", " ").Replace(string(m[1])))
		if !slices.Equal(got, platforms) {
			t.Errorf("%s lists %v, want %v", file, got, platforms)
		}
	}
}

// devTools returns the path of node, skipping (or failing under CLIPBRIDGE_REQUIRE_TOOLS=1)
// when node or the dev tools npm ci installs are missing.
func devTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed (apt-get install nodejs npm)"
	case !isFile("node_modules/.bin/tsc") || !isFile("node_modules/.bin/vitest"):
		missing = "the dev tools are not installed (run npm ci in npm/)"
	}
	if missing != "" {
		if os.Getenv(requireToolsEnv) == "1" {
			t.Fatalf("%s and %s=1", missing, requireToolsEnv)
		}
		t.Skipf("skipped: %s; set %s=1 to fail instead", missing, requireToolsEnv)
	}
	return node
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// run runs a tool to completion within toolTimeout and returns its combined output, failing the
// test with that output on a non-zero exit.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// npm's node_modules sits inside the Go module: a .go file in it would join ./... and gofmt.
func TestNodeModulesHoldNoGoFiles(t *testing.T) {
	devTools(t)
	err := filepath.WalkDir("node_modules", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			t.Errorf("%s: a .go file in node_modules would be built and vetted by go ./...", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTypeCheck(t *testing.T) {
	devTools(t)
	run(t, ".", os.Environ(), "node_modules/.bin/tsc", "--noEmit", "-p", "tsconfig.json")
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  string
)

// hostPlatform is this machine's platform package key.
func hostPlatform(t *testing.T) string {
	t.Helper()
	cpu := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	p := runtime.GOOS + "-" + cpu
	if !slices.Contains(platforms, p) {
		t.Skipf("skipped: no platform package for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	return p
}

// release runs build.sh for this machine's platform once and returns its output directory.
func release(t *testing.T) string {
	t.Helper()
	p := hostPlatform(t)
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "clipbridge-npm-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "build.sh", filepath.Join(buildDir, "dist"))
		cmd.Env = append(os.Environ(), "CLIPBRIDGE_PLATFORMS="+p, "CLIPBRIDGE_COMMIT=test")
		out, err := cmd.CombinedOutput()
		buildOut = string(out)
		if err != nil {
			buildErr = fmt.Errorf("build.sh: %w", err)
		}
	})
	if buildErr != nil {
		t.Fatalf("%v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "dist")
}

// hostBinary is the binary build.sh put into this machine's platform package.
func hostBinary(t *testing.T) string {
	return filepath.Join(release(t), "stage", "@clipbridge", hostPlatform(t), "bin", "clipbridge")
}

// The vitest suite, against the binary build.sh made. The SSH cases get a real OpenSSH sshd on
// loopback, started here with the harness the Go tests use; without sshd they skip, unless
// CLIPBRIDGE_REQUIRE_SSHD=1.
func TestVitest(t *testing.T) {
	devTools(t)
	env := append(os.Environ(), "CLIPBRIDGE_BINARY="+hostBinary(t))
	switch {
	case realsshd.Available():
		s := realsshd.StartT(t, realsshd.Config{})
		key := filepath.Join(t.TempDir(), "id_ed25519")
		if err := os.WriteFile(key, s.ClientKeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env,
			"CLIPBRIDGE_TEST_SSHD_HOST="+s.Host,
			fmt.Sprintf("CLIPBRIDGE_TEST_SSHD_PORT=%d", s.Port),
			"CLIPBRIDGE_TEST_SSHD_USER="+s.User,
			"CLIPBRIDGE_TEST_SSHD_KEY_FILE="+key,
			"CLIPBRIDGE_TEST_SSHD_KNOWN_HOSTS="+s.KnownHostsLine())
	case os.Getenv(realsshd.RequireEnv) == "1":
		t.Fatalf("%s not found and %s=1: install openssh-server", realsshd.Binary, realsshd.RequireEnv)
	default:
		t.Logf("no sshd (%s): vitest skips the SSH cases", realsshd.Binary)
	}
	// The verdict comes from vitest's JSON report, not its prose: with CI set in the
	// environment vitest colours its summary, and a pattern over that text stops matching.
	report := filepath.Join(t.TempDir(), "vitest.json")
	out := run(t, ".", plainOutput(env), "node_modules/.bin/vitest", "run",
		"--reporter=verbose", "--reporter=json", "--outputFile.json="+report)
	t.Log(out)
	var r struct {
		Success    bool `json:"success"`
		NumPassed  int  `json:"numPassedTests"`
		NumFailed  int  `json:"numFailedTests"`
		NumPending int  `json:"numPendingTests"`
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("vitest wrote no report: %v", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("vitest report: %v", err)
	}
	if !r.Success || r.NumFailed > 0 || r.NumPassed == 0 {
		t.Fatalf("vitest: success %v, %d passed, %d failed", r.Success, r.NumPassed, r.NumFailed)
	}
	// Only the SSH cases may skip, and only where there is no sshd (CI sets the require flag).
	if r.NumPending > 0 && os.Getenv(realsshd.RequireEnv) == "1" {
		t.Fatalf("vitest skipped %d tests with %s=1", r.NumPending, realsshd.RequireEnv)
	}
}

// plainOutput turns colour off for a tool whose output a test reads or logs (CI=true or
// FORCE_COLOR would turn it on without a terminal).
func plainOutput(env []string) []string {
	out := []string{"NO_COLOR=1"}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "FORCE_COLOR=") && !strings.HasPrefix(kv, "NO_COLOR=") {
			out = append(out, kv)
		}
	}
	return out
}

// The packed tarballs, installed the way a user installs them (offline, from the two files),
// run the launcher with no CLIPBRIDGE_BINARY: npm picks the platform package out of the
// optionalDependencies, the launcher finds its binary there, and a consumer type-checks
// against the shipped .d.ts.
func TestPackedRelease(t *testing.T) {
	node := devTools(t)
	dist := release(t)
	version := readManifest(t, "clipbridge/package.json").Version
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"consumer","private":true,"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	npmEnv := append(os.Environ(), "npm_config_cache="+t.TempDir(), "npm_config_update_notifier=false")
	run(t, proj, npmEnv, "npm", "install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts",
		filepath.Join(dist, "clipbridge-"+version+".tgz"),
		filepath.Join(dist, "clipbridge-"+hostPlatform(t)+"-"+version+".tgz"))
	if st, err := os.Stat(filepath.Join(proj, "node_modules/@clipbridge", hostPlatform(t), "bin/clipbridge")); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("the installed binary is missing or not executable: %v", err)
	}

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer real-run-jwt" || r.Header.Get("X-Paperclip-Run-Id") != "run-pkg" {
			http.Error(w, `{"error":"wrong credential"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer upstream.Close()
	script := `import { startPaperclipBridge, packageVersion } from "clipbridge";
const bridge = await startPaperclipBridge({ runId: "run-pkg", target: { kind: "local" }, runtimeRootDir: null,
  adapterKey: "codex", hostApiToken: "real-run-jwt", hostApiUrl: process.argv[2] });
const r = await fetch(bridge.env.PAPERCLIP_API_URL + "/api/agents/me", { headers: { authorization: "Bearer " + bridge.env.PAPERCLIP_API_KEY } });
const body = await r.text();
await bridge.stop();
console.log(JSON.stringify({ status: r.status, body, version: packageVersion() }));
`
	if err := os.WriteFile(filepath.Join(proj, "run.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLIPBRIDGE_") {
			env = append(env, kv)
		}
	}
	out := run(t, proj, env, node, "run.mjs", upstream.URL)
	var got struct {
		Status  int    `json:"status"`
		Body    string `json:"body"`
		Version string `json:"version"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Status != 200 || got.Body != `{"ok":true}` || got.Version != version {
		t.Fatalf("through the installed launcher: %+v", got)
	}

	consumer := `import { startPaperclipBridge, ClipbridgeError, type BridgeHandle, type BridgeInput } from "clipbridge";
const input: BridgeInput = { runId: "r", target: { kind: "local" }, adapterKey: "codex", hostApiToken: "t" };
export const handle: Promise<BridgeHandle> = startPaperclipBridge(input);
export const code: string | undefined = new ClipbridgeError("CLIPBRIDGE_START_FAILED", "x").code;
`
	tsconfig := fmt.Sprintf(`{"compilerOptions": {"module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022",
  "strict": true, "noEmit": true, "types": ["node"], "typeRoots": [%q]}, "files": ["consumer.ts"]}`,
		must(filepath.Abs("node_modules/@types")))
	for name, text := range map[string]string{"consumer.ts": consumer, "tsconfig.json": tsconfig} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, proj, os.Environ(), must(filepath.Abs("node_modules/.bin/tsc")), "-p", "tsconfig.json")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
