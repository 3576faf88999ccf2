package runner

import (
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	cases := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing", 8, nil, ""},
		{"blanks only", 8, []string{" \n\t"}, ""},
		{"short", 8, []string{"boom\n"}, ": boom"},
		{"keeps the end", 8, []string{"0123456789", "abc"}, ": 56789abc"},
		{"one long write", 4, []string{strings.Repeat("x", 100) + "tail"}, ": tail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := NewTail(c.max)
			for _, w := range c.writes {
				if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := tl.Suffix(); got != c.want {
				t.Fatalf("Suffix = %q, want %q", got, c.want)
			}
		})
	}
}
