package sshconn

import (
	"errors"
	"strings"
)

// ErrNUL is returned by QuoteArgs for an argument holding a NUL byte, which
// no POSIX argv can carry.
var ErrNUL = errors.New("argument contains a NUL byte")

// Quote returns s as one POSIX shell word: single-quoted, with each embedded
// single quote written as '"'"' (close, double-quoted quote, reopen). Inside
// single quotes a POSIX shell gives no character a special meaning, so the
// remote shell sees exactly s. Words made only of safe characters are left
// bare to keep remote `ps` output readable.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafeWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// QuoteArgs quotes every argument with Quote and joins them with spaces, so
// that `sh -c "$(QuoteArgs(argv))"` runs argv exactly as exec would, unlike
// OpenSSH's plain space join.
func QuoteArgs(argv []string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", ErrNUL
		}
		words[i] = Quote(a)
	}
	return strings.Join(words, " "), nil
}

// isSafeWord reports whether s needs no quoting: only characters no POSIX
// shell treats specially anywhere in a word. '=' is excluded because a first
// word like A=b would become an assignment; '~' because it expands at the
// start of a word.
func isSafeWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '@' || c == '+' || c == '%':
		default:
			return false
		}
	}
	return true
}
