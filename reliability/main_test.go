package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// binPath is the clipbridge binary under test, built once in TestMain.
var binPath string

// plainBin is a build of the binary without the race detector, made on
// first use when binPath has it (see plainBinary).
var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

// plainBinary returns a clipbridge binary built without the race
// detector: binPath itself when it is one. Memory figures need it: the
// race runtime keeps state for every goroutine ever started, and
// net/http starts one per request (its background read), so a race
// build's resident set grows with the request count however flat the
// bridge's own memory is.
func plainBinary(t testing.TB) string {
	t.Helper()
	if !childRace() {
		return binPath
	}
	plainOnce.Do(func() {
		plainBin = filepath.Join(filepath.Dir(binPath), "clipbridge-plain")
		build := exec.Command("go", "build", "-o", plainBin, "..")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		plainErr = build.Run()
	})
	if plainErr != nil {
		t.Fatalf("building clipbridge without -race: %v", plainErr)
	}
	return plainBin
}

// childRaceEnv overrides whether the binary under test is built with the
// race detector ("1" or "0"). By default it follows this test binary, so
// `go test -race` also checks the bridge itself for data races under load
// and faults.
const childRaceEnv = "CLIPBRIDGE_RELIABILITY_CHILD_RACE"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "upstream" {
		// Re-executed as the killable upstream (see upstreamproc_test.go).
		os.Exit(runUpstreamRole())
	}
	dir, err := os.MkdirTemp("", "clipbridge-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "clipbridge")
	args := []string{"build", "-o", binPath}
	if childRace() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "..")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building clipbridge:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func childRace() bool {
	switch os.Getenv(childRaceEnv) {
	case "1":
		return true
	case "0":
		return false
	}
	return raceEnabled
}
