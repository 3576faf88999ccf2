package runner

import (
	"errors"
	"strings"
)

// ErrPrefixSyntax reports an exec prefix string that cannot be split into words.
var ErrPrefixSyntax = errors.New("invalid exec prefix")

// ParsePrefix splits an exec prefix such as `docker exec -i "my container"` into argv words the
// way a POSIX shell would for a simple command, without expansions: blanks separate words; single
// quotes keep everything literally; double quotes keep everything except that a backslash escapes
// `"`, `\`, `$`, “ ` “ and newline; an unquoted backslash escapes the next character. `$`, globs
// and operators are plain characters, since no shell is involved. An empty prefix, an unterminated
// quote or a trailing backslash is an error.
func ParsePrefix(s string) ([]string, error) {
	var (
		words     []string
		cur       strings.Builder
		inWord    bool
		i         int
		syntaxErr = func(msg string) error { return errors.Join(ErrPrefixSyntax, errors.New(msg)) }
	)
	for i < len(s) {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, syntaxErr("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case ch == '"':
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					if s[i+1] != '\n' { // backslash-newline is a line continuation: both vanish
						cur.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				cur.WriteByte(c)
				i++
			}
			if !closed {
				return nil, syntaxErr("unterminated double quote")
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, syntaxErr("trailing backslash")
			}
			if s[i+1] != '\n' {
				cur.WriteByte(s[i+1])
				inWord = true
			}
			i += 2
		default:
			cur.WriteByte(ch)
			inWord = true
			i++
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, syntaxErr("empty")
	}
	return words, nil
}
