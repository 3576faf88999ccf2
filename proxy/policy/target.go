package policy

import (
	"errors"
	"strings"
)

// ErrInvalidPath reports a request target that is not in the canonical
// origin form the allowlist is written for. The handler answers it with 400
// "Invalid request path.".
var ErrInvalidPath = errors.New("invalid request path")

// ParseTarget splits a raw HTTP request target into its path and raw query
// (without the '?') and refuses every form that could make the allowlist
// decision differ from what the upstream router sees.
//
// Why so strict: the allowlist matches the path textually, while upstream
// routers decode and normalise it. Anything a router might reinterpret,
// such as dot segments, an encoded '/', '\' or '.', empty segments,
// backslashes or control bytes, is refused instead of normalised, so
// there is exactly one spelling of every allowed path. Other
// percent-escapes (%41, %20) are left as sent: upstream decodes them
// the same way whichever spelling reached it, and the allowlist's
// [^/]+ segments accept them. The query is never matched, and it is
// forwarded byte for byte, so it may hold only what net/http admits in a
// request target: no control byte, space or DEL.
func ParseTarget(requestURI string) (path, rawQuery string, err error) {
	path = requestURI
	if i := strings.IndexByte(requestURI, '?'); i >= 0 {
		path, rawQuery = requestURI[:i], requestURI[i+1:]
	}
	for i := 0; i < len(rawQuery); i++ {
		if c := rawQuery[i]; c <= ' ' || c == 0x7f {
			return "", "", ErrInvalidPath
		}
	}
	// Origin form only: absolute-form ("http://h/x"), authority-form
	// (CONNECT) and asterisk-form ("*") all fail this first test.
	if len(path) == 0 || path[0] != '/' {
		return "", "", ErrInvalidPath
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			c := path[i]
			if c == '%' {
				d, ok := unhex2(path, i+1)
				if !ok || d == '/' || d == '\\' || d == '.' || isControl(d) {
					return "", "", ErrInvalidPath
				}
				i += 2
				continue
			}
			if c == '\\' || c == '#' || isControl(c) || c >= 0x80 || c == ' ' {
				return "", "", ErrInvalidPath
			}
			continue
		}
		// End of a segment: path[segStart:i].
		seg := path[segStart:i]
		switch {
		case seg == "" && i < len(path):
			// "//" anywhere. A trailing '/' leaves an empty last segment,
			// which is allowed: it simply matches no rule.
			return "", "", ErrInvalidPath
		case seg == "." || seg == "..":
			return "", "", ErrInvalidPath
		}
		segStart = i + 1
	}
	return path, rawQuery, nil
}

// isControl reports C0 control bytes and DEL.
func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// unhex2 decodes the two hex digits at s[i:i+2].
func unhex2(s string, i int) (byte, bool) {
	if i+2 > len(s) {
		return 0, false
	}
	hi, ok1 := unhex(s[i])
	lo, ok2 := unhex(s[i+1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
