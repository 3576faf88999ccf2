package runner

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"slices"
	"strings"
)

// bootstrapScript is the only command text the exec and SSH runners put in argv. It is constant,
// so it shows nothing in `ps`. It reads a marker line from stdin, then every line up to the next
// marker line, and evaluates them: the environment exports, the `cd` and the script travel on
// stdin, and whatever follows the second marker is the script's own stdin.
//
// It relies on `read` consuming a pipe no further than the newline it stops at, which POSIX
// requires of the shell (dash, bash and busybox ash read such input one byte at a time). The
// script avoids single quotes and `!` so that any login shell (bash, zsh, csh) passes it to sh
// unchanged.
const bootstrapScript = `IFS= read -r m || exit 127; eval "$(while IFS= read -r l; do [ "$l" = "$m" ] && break; printf "%s\n" "$l"; done)"`

// bootstrapArgv is the argv that runs bootstrapScript.
var bootstrapArgv = []string{"sh", "-c", bootstrapScript}

// Quote returns s as one POSIX shell word: single-quoted, with each ' written as '"'"'.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// QuoteArgs quotes each element of args and joins them with spaces.
func QuoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// prelude renders the stdin text that bootstrapScript evaluates for c: a random marker line,
// exports, cd, the script (or `exec` of Args), and the marker again. The marker is random per
// command so no value or script line can end the prelude early.
func prelude(c Command) []byte { return preludeText(c, false) }

// pidReport is the prelude's first line for runners that need the remote shell's pid (ssh): it
// goes to stderr, where the runner takes it off before the caller sees any output.
const pidReport = `printf '__cbpid %s\n' "$$" >&2`

func preludeText(c Command, reportPID bool) []byte {
	var raw [12]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms.
	marker := "__clipbridge_" + hex.EncodeToString(raw[:]) + "__"

	var b strings.Builder
	b.WriteString(marker + "\n")
	if reportPID {
		b.WriteString(pidReport + "\n")
	}
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("export " + k + "=" + Quote(c.Env[k]) + "\n")
	}
	if c.Dir != "" {
		b.WriteString("cd " + Quote(c.Dir) + " || exit 127\n")
	}
	if c.Script != "" {
		b.WriteString(c.Script)
		if !strings.HasSuffix(c.Script, "\n") {
			b.WriteString("\n")
		}
	} else {
		b.WriteString("exec " + QuoteArgs(c.Args) + "\n")
	}
	b.WriteString(marker + "\n")
	return []byte(b.String())
}

// preludeReader returns the full stdin of a bootstrapped command: the prelude, then stdin (or
// nothing when stdin is nil).
func preludeReader(c Command, stdin io.Reader) io.Reader {
	return preludeReaderPID(c, stdin, false)
}

func preludeReaderPID(c Command, stdin io.Reader, reportPID bool) io.Reader {
	p := strings.NewReader(string(preludeText(c, reportPID)))
	if stdin == nil {
		return p
	}
	return io.MultiReader(p, stdin)
}
