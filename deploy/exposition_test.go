package deploy

import (
	"bufio"
	"fmt"
	"strings"
)

// exposition is what a /metrics page (Prometheus text format 0.0.4)
// exports: metric families with their types, and for every sample name the
// label names and values seen.
type exposition struct {
	types   map[string]string                     // family name -> counter, gauge, histogram, ...
	samples map[string]map[string]map[string]bool // sample name -> label -> values
}

func newExposition() *exposition {
	return &exposition{types: map[string]string{}, samples: map[string]map[string]map[string]bool{}}
}

// parseExposition reads the text format. It is strict about what it
// understands (TYPE lines, sample names, label pairs) and ignores values
// and timestamps, which the cross-checks do not need.
func parseExposition(text string) (*exposition, error) {
	e := newExposition()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || !validMetricName(f[2]) {
				return nil, fmt.Errorf("line %d: bad TYPE line %q", n, line)
			}
			e.types[f[2]] = f[3]
		case strings.HasPrefix(line, "#"):
		default:
			name, labels, err := parseSample(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			e.add(name, labels)
		}
	}
	return e, sc.Err()
}

func (e *exposition) add(name string, labels map[string]string) {
	byLabel := e.samples[name]
	if byLabel == nil {
		byLabel = map[string]map[string]bool{}
		e.samples[name] = byLabel
	}
	for k, v := range labels {
		if byLabel[k] == nil {
			byLabel[k] = map[string]bool{}
		}
		byLabel[k][v] = true
	}
}

// merge adds another page's families and samples (several instances, each
// in a different mode, together export every metric).
func (e *exposition) merge(o *exposition) {
	for k, v := range o.types {
		e.types[k] = v
	}
	for name, byLabel := range o.samples {
		for label, values := range byLabel {
			for v := range values {
				e.add(name, map[string]string{label: v})
			}
		}
		if _, ok := e.samples[name]; !ok {
			e.samples[name] = map[string]map[string]bool{}
		}
	}
}

// has reports whether name is a family, or a histogram or summary's
// _bucket, _sum or _count series.
func (e *exposition) has(name string) bool {
	if _, ok := e.types[name]; ok {
		return true
	}
	_, ok := e.samples[name]
	return ok
}

// parseSample splits `name{a="x",b="y"} value [timestamp]`.
func parseSample(line string) (string, map[string]string, error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, fmt.Errorf("bad sample %q", line)
	}
	name := line[:i]
	if !validMetricName(name) {
		return "", nil, fmt.Errorf("bad metric name %q", name)
	}
	labels := map[string]string{}
	rest := line[i:]
	if rest[0] == '{' {
		var err error
		if labels, rest, err = parseLabels(rest[1:]); err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if f := strings.Fields(rest); len(f) < 1 || len(f) > 2 {
		return "", nil, fmt.Errorf("%s: want a value and an optional timestamp, got %q", name, rest)
	}
	return name, labels, nil
}

// parseLabels reads `a="x",b="y"}` (the opening brace already consumed)
// and returns the rest of the line after the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || !validLabelName(strings.TrimSpace(s[:eq])) {
			return nil, "", fmt.Errorf("bad label in %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " ")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", key)
		}
		var val strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					val.WriteByte('\n')
				case '\\', '"':
					val.WriteByte(s[j])
				default:
					return nil, "", fmt.Errorf("label %s: bad escape \\%c", key, s[j])
				}
				continue
			}
			val.WriteByte(s[j])
		}
		if j >= len(s) {
			return nil, "", fmt.Errorf("label %s: unterminated value", key)
		}
		if _, dup := labels[key]; dup {
			return nil, "", fmt.Errorf("label %s repeated", key)
		}
		labels[key] = val.String()
		s = strings.TrimLeft(s[j+1:], " ")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", fmt.Errorf("label %s: want , or }", key)
		}
	}
}

func validMetricName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func validLabelName(s string) bool {
	return validMetricName(s) && !strings.Contains(s, ":")
}
