package queue

import (
	"regexp"
	"strings"
)

// fileNameRE is what both ends list and act on: a plain name ending in .json. Anything else
// (temp files, names with shell or path characters) is ignored, which also keeps names safe to
// pass through the co-process protocol.
var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*\.json$`)

// ValidName reports whether a request file name is one the worker handles.
func ValidName(name string) bool { return len(name) <= 200 && fileNameRE.MatchString(name) }

// IDFromName is the envelope id Paperclip falls back to when a file cannot be parsed.
func IDFromName(name string) string { return strings.TrimSuffix(name, ".json") }
