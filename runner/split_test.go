package runner

import (
	"errors"
	"slices"
	"testing"
)

var splitCases = []struct {
	name string
	in   string
	want []string
	err  bool
}{
	{"docker", "docker exec -i CONTAINER", []string{"docker", "exec", "-i", "CONTAINER"}, false},
	{"kubectl", "kubectl exec -i POD --", []string{"kubectl", "exec", "-i", "POD", "--"}, false},
	{"extra blanks", "  sh \t -c\n", []string{"sh", "-c"}, false},
	{"single quotes", `sh -c 'exec "$0" "$@"'`, []string{"sh", "-c", `exec "$0" "$@"`}, false},
	{"double quotes", `docker exec -i "my box"`, []string{"docker", "exec", "-i", "my box"}, false},
	{"double escapes", `a "x\"y\\z\$w\q"`, []string{"a", `x"y\z$w\q`}, false},
	{"adjacent quotes join", `a'b'"c"d`, []string{"abcd"}, false},
	{"empty quoted word", `a '' ""`, []string{"a", "", ""}, false},
	{"backslash escapes blank", `a\ b c`, []string{"a b", "c"}, false},
	{"line continuation", "a\\\nb", []string{"ab"}, false},
	{"dollar literal", `echo $HOME`, []string{"echo", "$HOME"}, false},
	{"unterminated single", `a 'b`, nil, true},
	{"unterminated double", `a "b`, nil, true},
	{"trailing backslash", `a \`, nil, true},
	{"empty", "", nil, true},
	{"blank", " \t ", nil, true},
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrefix(tc.in)
			if tc.err {
				if !errors.Is(err, ErrPrefixSyntax) {
					t.Fatalf("ParsePrefix(%q) = %q, %v; want ErrPrefixSyntax", tc.in, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParsePrefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzParsePrefix checks that splitting never panics and that quoting the words with Quote and
// splitting again gives the same words back (the splitter and the quoter agree).
func FuzzParsePrefix(f *testing.F) {
	for _, tc := range splitCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := ParsePrefix(s)
		if err != nil {
			if !errors.Is(err, ErrPrefixSyntax) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if len(words) == 0 {
			t.Fatal("no words and no error")
		}
		again, err := ParsePrefix(QuoteArgs(words))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("round trip of %q: %q, %v", words, again, err)
		}
	})
}
