package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binPath is the clipbridge binary under test, built once in TestMain.
var binPath string

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
