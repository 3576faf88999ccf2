package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped at build time:
// go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// buildCommit returns the stamped commit, or the VCS revision Go
// recorded when building from a checkout.
func buildCommit() string {
	if commit != "" {
		return commit
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

func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "clipbridge %s (%s, commit %s)\n", version, runtime.Version(), buildCommit())
}
