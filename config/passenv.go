package config

import (
	"fmt"
	"regexp"
	"strings"
)

// passEnvRE is one --runner-exec-env entry: a variable name, or a name prefix ending in "*".
var passEnvRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)

// parsePassEnv splits a comma-separated --runner-exec-env list. The sidecar's own CLIPBRIDGE_*
// variables hold its secrets: naming them is an error, so nobody believes they pass (the runner
// drops them, also when a pattern such as "CLIP*" would match).
func parsePassEnv(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var names []string
	for n := range strings.SplitSeq(v, ",") {
		n = strings.TrimSpace(n)
		switch {
		case !passEnvRE.MatchString(n):
			return nil, fmt.Errorf("%q is not a variable name (NAME or PREFIX*)", n)
		case strings.HasPrefix(n, "CLIPBRIDGE_"):
			return nil, fmt.Errorf("%q: clipbridge's own settings never pass to a child", n)
		}
		names = append(names, n)
	}
	return names, nil
}
