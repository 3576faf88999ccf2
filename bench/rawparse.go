package main

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"strconv"
)

// The raw floor's parsers: line scanners over the bufio buffer that
// allocate nothing. They accept exactly what the bench's load and
// upstream send (a body-less request; a response with Content-Length) and
// refuse the rest. They do not validate what an HTTP server must
// (obs-fold, field syntax, duplicate lengths, request smuggling), so they
// are no model for clipbridge's agent-facing parser: they measure how
// fast Go can go with parsing taken out of the way.

var errRawSyntax = errors.New("bare proxy: malformed head")

// readRawRequest appends the request's "METHOD URI" to line. It refuses
// (errBareRefused) a request without the bridge token want, or with a
// body.
func readRawRequest(br *bufio.Reader, line, want []byte) ([]byte, error) {
	first, ok, body := true, false, false
	for {
		l, err := readRawLine(br)
		if err != nil {
			return line, err
		}
		switch name, value, _ := bytes.Cut(l, []byte(":")); {
		case first:
			sp := bytes.LastIndexByte(l, ' ')
			if sp <= 0 {
				return line, errRawSyntax
			}
			line, first = append(line, l[:sp]...), false
		case len(l) == 0:
			if !ok || body {
				return line, errBareRefused
			}
			return line, nil
		case bytes.EqualFold(name, []byte("authorization")):
			ok = subtle.ConstantTimeCompare(bytes.TrimSpace(value), want) == 1
		case bytes.EqualFold(name, []byte("transfer-encoding")),
			bytes.EqualFold(name, []byte("content-length")) && string(bytes.TrimSpace(value)) != "0":
			body = true
		}
	}
}

// readRawResponse appends upstream's status line to status and returns
// it with the Content-Type and Content-Length of the response; the body
// follows in br.
func readRawResponse(br *bufio.Reader, status []byte) ([]byte, string, int64, error) {
	var ctype string
	n := int64(-1)
	first := true
	for {
		l, err := readRawLine(br)
		if err != nil {
			return status, "", 0, err
		}
		switch name, value, _ := bytes.Cut(l, []byte(":")); {
		case first:
			if !bytes.HasPrefix(l, []byte("HTTP/1.")) {
				return status, "", 0, errRawSyntax
			}
			status, first = append(status, l...), false
		case len(l) == 0:
			return status, ctype, n, nil
		case bytes.EqualFold(name, []byte("content-type")):
			ctype = rawContentType(bytes.TrimSpace(value))
		case bytes.EqualFold(name, []byte("content-length")):
			if n, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil || n < 0 {
				return status, "", 0, errRawSyntax
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			return status, "", 0, errRawSyntax // the bench's upstream never chunks
		}
	}
}

// rawContentType returns the bench upstream's one media type as a
// constant, so the common answer costs no allocation.
func rawContentType(v []byte) string {
	if string(v) == "application/json" {
		return "application/json"
	}
	return string(v)
}

// readRawLine returns one head line without its CRLF; it is valid until
// the next read from br.
func readRawLine(br *bufio.Reader) ([]byte, error) {
	l, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	l = bytes.TrimSuffix(l[:len(l)-1], []byte("\r"))
	return l, nil
}
