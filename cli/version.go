package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Build is what the binary was stamped with at build time (package
// main's -X flags): go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
type Build struct {
	Version string // "dev" when unstamped
	Commit  string
}

// commitOrVCS returns the stamped commit, or the VCS revision Go
// recorded when building from a checkout.
func (b Build) commitOrVCS() string {
	if b.Commit != "" {
		return b.Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func writeVersion(w io.Writer, b Build) {
	fmt.Fprintf(w, "clipbridge %s (%s, commit %s)\n", b.Version, runtime.Version(), b.commitOrVCS())
}
