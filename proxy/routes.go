package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// Rule is one allowlist entry: an exact HTTP method and an RE2 pattern
// matched against the whole canonical path (never the query).
type Rule struct {
	Method  string
	Pattern string // as written; also the metrics "route" label

	re     *regexp.Regexp
	prefix string // literal prefix every match must start with
	suffix string // literal suffix every match must end with
}

// newRule compiles a rule. The pattern is anchored for the caller, so
// "/api/x" and "^/api/x$" mean the same thing.
func newRule(method, pattern string) (Rule, error) {
	if !policy.ValidMethod(method) {
		return Rule{}, fmt.Errorf("method %q is not an HTTP method token", method)
	}
	// Strip the pattern's own outer anchors before adding ours: "^(?:^x$)$"
	// hides the literal prefix from LiteralPrefix, and that prefix is what
	// lets Match skip most rules without running their regex.
	inner := strings.TrimPrefix(pattern, "^")
	if strings.HasSuffix(inner, "$") && !strings.HasSuffix(inner, `\$`) {
		inner = inner[:len(inner)-1]
	}
	re, err := regexp.Compile(`^(?:` + inner + `)$`)
	if err != nil {
		return Rule{}, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	prefix, _ := re.LiteralPrefix()
	return Rule{Method: method, Pattern: pattern, re: re, prefix: prefix, suffix: literalSuffix(inner)}, nil
}

// allowlist decides which method and path pairs may be forwarded.
type allowlist struct {
	byMethod map[string][]Rule
	n        int
}

// newAllowlist indexes rules by method. Order is kept, so the first
// matching rule names the route in metrics.
func newAllowlist(rules []Rule) *allowlist {
	a := &allowlist{byMethod: make(map[string][]Rule), n: len(rules)}
	for _, r := range rules {
		a.byMethod[r.Method] = append(a.byMethod[r.Method], r)
	}
	return a
}

// Len reports the number of rules.
func (a *allowlist) Len() int { return a.n }

// Match returns the pattern of the first rule allowing method and path.
// Methods compare exactly: HTTP methods are case-sensitive, so "get" is
// not GET. The literal-prefix test skips most regex evaluations.
func (a *allowlist) Match(method, path string) (pattern string, ok bool) {
	for i := range a.byMethod[method] {
		r := &a.byMethod[method][i]
		if strings.HasPrefix(path, r.prefix) && strings.HasSuffix(path, r.suffix) && r.re.MatchString(path) {
			return r.Pattern, true
		}
	}
	return "", false
}

// Patterns lists every distinct pattern, for pre-creating metric series.
func (a *allowlist) Patterns() []string {
	seen := map[string]bool{}
	var out []string
	for _, rules := range a.byMethod {
		for _, r := range rules {
			if !seen[r.Pattern] {
				seen[r.Pattern] = true
				out = append(out, r.Pattern)
			}
		}
	}
	return out
}

// ParseRoutes reads a routes file: one "METHOD REGEX" rule per line,
// blank lines and lines starting with '#' ignored. Every bad line is
// reported, with its line number, in one joined error.
func ParseRoutes(r io.Reader) ([]Rule, error) {
	var rules []Rule
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			errs = append(errs, fmt.Errorf("line %d: want \"METHOD REGEX\", got %d fields", line, len(fields)))
			continue
		}
		rule, err := newRule(fields[0], fields[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 && len(rules) == 0 {
		errs = append(errs, errors.New("no rules: an empty allowlist would deny every call"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// literalSuffix returns the literal text every full match of pattern must
// end with ("/comments" for "/api/issues/[^/]+/comments"), or "". Most
// rules share a prefix such as "/api/companies/" but differ in their last
// segment, so this test rejects them without running the regex.
func literalSuffix(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune)
	}
	if re.Op != syntax.OpConcat {
		return ""
	}
	subs := re.Sub
	for len(subs) > 0 && (subs[len(subs)-1].Op == syntax.OpEndText || subs[len(subs)-1].Op == syntax.OpEndLine) {
		subs = subs[:len(subs)-1]
	}
	if len(subs) == 0 {
		return ""
	}
	last := subs[len(subs)-1]
	if last.Op != syntax.OpLiteral || last.Flags&syntax.FoldCase != 0 {
		return ""
	}
	return string(last.Rune)
}
