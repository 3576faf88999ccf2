package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The fuzz smoke script re-runs a target only when its log is exactly the
// Go 1.26 coordinator race (golang/go#75804). A real finding must never
// pass for that race, so each kind of failure log is checked here.
func TestFuzzSmokeDeadlineClassifier(t *testing.T) {
	cases := []struct {
		name, log string
		flake     bool
	}{
		{"the race, as CI printed it", `fuzz: elapsed: 10s, execs: 225333 (20892/sec), new interesting: 2 (total: 68)
--- FAIL: FuzzParseSize (10.13s)
    context deadline exceeded
FAIL
exit status 1
FAIL	github.com/clipbridge/clipbridge/config	10.136s
`, true},
		{"a real finding", `--- FAIL: FuzzParseSize (0.31s)
    --- FAIL: FuzzParseSize (0.00s)
        size_test.go:40: accepted "1e"

    Failing input written to testdata/fuzz/FuzzParseSize/0123abcd
    To re-run:
    go test -run=FuzzParseSize/0123abcd
FAIL
`, false},
		{"a finding next to the deadline", `--- FAIL: FuzzParseSize (10.02s)
    context deadline exceeded
    size_test.go:40: accepted "1e"
FAIL
`, false},
		{"a worker panic", `--- FAIL: FuzzParseSize (10.02s)
    context deadline exceeded
panic: runtime error: index out of range
FAIL
`, false},
		{"a hung worker", `--- FAIL: FuzzParseSize (10.02s)
    fuzzing process hung or terminated unexpectedly: exit status 2
FAIL
`, false},
		{"a build failure", `# github.com/clipbridge/clipbridge/config
config/size.go:3:1: syntax error
FAIL	github.com/clipbridge/clipbridge/config [build failed]
`, false},
		{"a pass", `fuzz: elapsed: 10s, execs: 1 (0/sec)
PASS
ok  	github.com/clipbridge/clipbridge/config	10.1s
`, false},
	}
	script, err := filepath.Abs("fuzz-smoke.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(log, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-c", `source "$1" && deadline_flake "$2"`, "bash", script, log)
			cmd.Env = append(os.Environ(), "FUZZ_SMOKE_LIB=1")
			out, err := cmd.CombinedOutput()
			if _, exit := err.(*exec.ExitError); err != nil && !exit {
				t.Fatal(err)
			}
			if got := err == nil; got != tc.flake {
				t.Fatalf("deadline_flake = %v, want %v (output %q)", got, tc.flake, out)
			}
		})
	}
}
