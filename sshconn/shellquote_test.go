package sshconn

import (
	"bytes"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

var quoteCases = []struct {
	name string
	argv []string
}{
	{"plain", []string{"echo", "hello"}},
	{"empty argument", []string{"printf", "%s|", "", "x"}},
	{"spaces", []string{"a b", "  lead", "trail  "}},
	{"single quotes", []string{"it's", "'", "''", "a'b'c"}},
	{"double quotes and dollars", []string{`"$HOME"`, "$PAPERCLIP_API_URL", "${x:-y}", "$(id)", "`id`"}},
	{"shell syntax", []string{";", "&&", "|", ">", "<", "*", "?", "[a]", "{a,b}", "~", "~root", "#", "!"}},
	{"assignment look-alike", []string{"A=b", "c"}},
	{"backslashes", []string{`\`, `\\`, `a\nb`, `\'`}},
	{"newlines and tabs", []string{"a\nb", "\t", "\r\n"}},
	{"non-ascii and invalid utf-8", []string{"héllo", "日本", "\xff\xfe"}},
	{"the issue's example", []string{"sh", "-c", `echo "$PAPERCLIP_API_URL"`}},
}

func TestQuoteArgsRoundTripsThroughSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	for _, tc := range quoteCases {
		t.Run(tc.name, func(t *testing.T) {
			got := runPrintArgs(t, sh, tc.argv)
			if !slices.Equal(got, tc.argv) {
				t.Errorf("sh saw %q, want %q", got, tc.argv)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"":         "''",
		"abc":      "abc",
		"/usr/bin": "/usr/bin",
		"a b":      "'a b'",
		"it's":     `'it'"'"'s'`,
		"A=b":      "'A=b'",
		"~":        "'~'",
	}
	for in, want := range tests {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if _, err := QuoteArgs([]string{"a\x00b"}); !errors.Is(err, ErrNUL) {
		t.Errorf("NUL argument: err = %v, want ErrNUL", err)
	}
}

// runPrintArgs has sh parse the quoted command line and print each word it
// produced, NUL-terminated.
func runPrintArgs(t testing.TB, sh string, argv []string) []string {
	t.Helper()
	line, err := QuoteArgs(argv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, "-c", "set -- "+line+`; for a in "$@"; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	words := []string{}
	for w := range bytes.SplitSeq(out, []byte{0}) {
		words = append(words, string(w))
	}
	return words[:len(words)-1]
}

// FuzzQuoteArgs checks that any argument list survives QuoteArgs and a real
// POSIX shell unchanged. Arguments are separated by \x1f in the fuzz input.
func FuzzQuoteArgs(f *testing.F) {
	for _, tc := range quoteCases {
		f.Add(strings.Join(tc.argv, "\x1f"))
	}
	f.Add("a\x00b")
	sh, err := exec.LookPath("sh")
	if err != nil {
		f.Skip("no sh on PATH")
	}
	f.Fuzz(func(t *testing.T, joined string) {
		argv := strings.Split(joined, "\x1f")
		line, err := QuoteArgs(argv)
		if strings.Contains(joined, "\x00") {
			if !errors.Is(err, ErrNUL) {
				t.Fatalf("NUL accepted: %q", line)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := runPrintArgs(t, sh, argv); !slices.Equal(got, argv) {
			t.Fatalf("sh saw %q for %q (quoted %s)", got, argv, line)
		}
	})
}
