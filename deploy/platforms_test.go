package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// supportedPlatforms are the GOOS/GOARCH pairs clipbridge is built and
// vetted for (README.md "Platforms"); the image's TARGETARCH values are the
// linux ones.
var supportedPlatforms = []struct{ goos, goarch string }{
	{"linux", "amd64"},
	{"linux", "arm64"},
	{"darwin", "amd64"},
	{"darwin", "arm64"},
}

// crossBuildBound is generous because a cold build cache compiles the
// standard library and every dependency once per platform, which takes
// minutes on a loaded two-core machine; a warm cache needs seconds.
const crossBuildBound = 5 * time.Minute

// TestCrossBuild builds the binary, and vets the main package with its test
// files, for every supported platform with CGO_ENABLED=0 (as the image and
// releases build it), so Linux-only code cannot slip into a file macOS
// compiles. It also pins the Windows decision: a Windows build must stop at
// once on internal/unixonly, not somewhere inside a dependency. Skipped
// under -short: a cold cache makes it slow.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: cross-builds compile every dependency per platform")
	}
	for _, p := range supportedPlatforms {
		t.Run(p.goos+"/"+p.goarch, func(t *testing.T) {
			for _, args := range [][]string{{"build", "-o", os.DevNull, "."}, {"vet", "."}} {
				if out, err := crossGo(t, p.goos, p.goarch, args...); err != nil {
					t.Errorf("GOOS=%s GOARCH=%s go %s: %v\n%s", p.goos, p.goarch, strings.Join(args, " "), err, out)
				}
			}
		})
	}
	t.Run("windows/amd64 unsupported", func(t *testing.T) {
		out, err := crossGo(t, "windows", "amd64", "build", "-o", os.DevNull, ".")
		if err == nil {
			t.Fatal("GOOS=windows go build succeeded: if Windows is now supported, remove internal/unixonly, " +
				"add windows to supportedPlatforms and update README.md \"Platforms\"")
		}
		if !strings.Contains(out, "internal/unixonly") || !strings.Contains(out, "build constraints exclude all Go files") {
			t.Errorf("GOOS=windows go build failed without naming internal/unixonly:\n%s", out)
		}
	})
}

// crossGo runs the go command in the module root for another platform and
// returns its combined output.
func crossGo(t *testing.T, goos, goarch string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), crossBuildBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	// The host's environment keeps GOCACHE, GOPATH and the module proxy;
	// later entries win.
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
