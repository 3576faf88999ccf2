package main

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

const rawWant = "Bearer bridge-token"

func TestRawRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in, line string
		err            error
	}{
		{"forwarded", "GET /api/agents/me HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer bridge-token \r\n\r\n", "GET /api/agents/me", nil},
		{"bare LF", "GET /a?b=c HTTP/1.1\nAuthorization: Bearer bridge-token\n\n", "GET /a?b=c", nil},
		{"zero length", "GET / HTTP/1.1\r\nContent-Length: 0\r\nAuthorization: Bearer bridge-token\r\n\r\n", "GET /", nil},
		{"no token", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", errBareRefused},
		{"wrong token", "GET / HTTP/1.1\r\nAuthorization: Bearer bridge-tokeN\r\n\r\n", "", errBareRefused},
		{"body", "POST / HTTP/1.1\r\nAuthorization: Bearer bridge-token\r\nContent-Length: 2\r\n\r\n{}", "", errBareRefused},
		{"chunked", "POST / HTTP/1.1\r\nAuthorization: Bearer bridge-token\r\nTransfer-Encoding: chunked\r\n\r\n", "", errBareRefused},
		{"no target", "GET\r\n\r\n", "", errRawSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := readRawRequest(bufio.NewReader(strings.NewReader(tc.in)), nil, []byte(rawWant))
			if !errors.Is(err, tc.err) || (err == nil && string(line) != tc.line) {
				t.Fatalf("got %q, %v; want %q, %v", line, err, tc.line, tc.err)
			}
		})
	}
}

func TestRawResponse(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nDate: x\r\n\r\n{}"
	br := bufio.NewReader(strings.NewReader(in))
	status, ctype, n, err := readRawResponse(br, nil)
	if err != nil || string(status) != "HTTP/1.1 200 OK" || ctype != "application/json" || n != 2 {
		t.Fatalf("got %q %q %d %v", status, ctype, n, err)
	}
	if rest, _ := br.Peek(2); string(rest) != "{}" {
		t.Fatalf("body not left in the reader: %q", rest)
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n",
		"\r\nContent-Length: 1\r\n\r\n", // no status line
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\n", // cut off
	} {
		if _, _, _, err := readRawResponse(bufio.NewReader(strings.NewReader(bad)), nil); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// The raw parsers take arbitrary bytes without panicking, and forward
// only a request that carried the token on a line of its own.
func FuzzRawRequest(f *testing.F) {
	f.Add([]byte("GET /api/agents/me HTTP/1.1\r\nAuthorization: Bearer bridge-token\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 1\r\nAuthorization: Bearer bridge-token\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, in []byte) {
		line, err := readRawRequest(bufio.NewReaderSize(bytes.NewReader(in), 64), nil, []byte(rawWant))
		if err != nil {
			return
		}
		if !bytes.HasPrefix(in, line) {
			t.Fatalf("request line %q is not the input's start", line)
		}
		if !bytes.Contains(bytes.ToLower(in), []byte("authorization:")) || !bytes.Contains(in, []byte(rawWant)) {
			t.Fatalf("forwarded without the token: %q", in)
		}
	})
}

func FuzzRawResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		status, _, n, err := readRawResponse(bufio.NewReaderSize(bytes.NewReader(in), 64), nil)
		if err != nil {
			return
		}
		if n < -1 || !bytes.HasPrefix(in, status) || !bytes.HasPrefix(status, []byte("HTTP/1.")) {
			t.Fatalf("length %d, status %q", n, status)
		}
	})
}
