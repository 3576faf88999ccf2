// Package relaywire is the relay protocol between `clipbridge serve --runner relay` and the
// parent process that started it (the npm launcher, or a test or bench parent): frames on a
// private unix socket (fd 3 of the sidecar, never stdout, which carries the ready line), each a
// 4-byte big-endian length and that many bytes of one JSON object. The sidecar sends requests;
// the parent answers each with a reply carrying the same id, in any order, so several commands
// can be in flight. The launcher's side is npm/clipbridge/src/relay.ts; the two must agree on
// everything in this file.
package relaywire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxFrameBytes bounds one frame either way. The largest legitimate frames are a request
// whose stdin is a whole queue envelope or the gateway binary (~17 MB, base64: ~23 MB), and a
// reply carrying up to a few request envelopes (6×max body + 64 KiB each, base64). A length
// above it is a broken or hostile peer: the relay is then closed, never resized.
const MaxFrameBytes = 160 << 20

// MaxStdinBytes bounds a command's stdin for the relay runner: it is held in memory and sent in
// one frame (base64 when it is not text), which must stay under MaxFrameBytes.
const MaxStdinBytes = 96 << 20

// Request asks the parent to run one command with its target's runner.execute.
//
// Command and Args are always the constant bootstrap (runner/prelude.go): the command's
// environment, working directory and script travel in Stdin, so no value the sidecar holds is
// ever an argv word, here or on the execution host.
type Request struct {
	Type string `json:"type"` // "exec"
	ID   uint64 `json:"id"`
	// Command and Args are what execute runs.
	Command string   `json:"command"`
	Args    []string `json:"args"`
	// Stdin is the command's whole standard input, as text (execute takes a string).
	Stdin string `json:"stdin"`
	// TimeoutMs is execute's timeoutMs; the parent also enforces it itself.
	TimeoutMs int64 `json:"timeoutMs"`
	// MaxOutputBytes bounds stdout and stderr each in the reply; the parent truncates.
	MaxOutputBytes int `json:"maxOutputBytes"`
}

// Reply is the parent's answer to the request with the same ID.
type Reply struct {
	ID uint64 `json:"id"`
	// ExitCode is null when the command was killed or gave no status.
	ExitCode        *int   `json:"exitCode"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	StdoutTruncated bool   `json:"stdoutTruncated"`
	StderrTruncated bool   `json:"stderrTruncated"`
	TimedOut        bool   `json:"timedOut"`
	// Error is set when the command could not be run at all (execute threw, returned something
	// that is no result, or the parent is at its concurrency bound).
	Error string `json:"error,omitempty"`
}

// ErrFrame reports a frame that breaks the protocol; the relay cannot continue after one.
var ErrFrame = errors.New("relay protocol violation")

// FrameTooLargeError is a frame WriteFrame refused to send (nothing was written).
type FrameTooLargeError struct{ n int }

// Error implements error.
func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("relay frame of %d bytes exceeds the %d-byte limit", e.n, MaxFrameBytes)
}

// WriteFrame encodes v as one frame. HTML escaping is off: it would only grow the frame.
func WriteFrame(w io.Writer, v any) error {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0})
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := buf.Bytes()
	n := len(b) - 4
	if n > MaxFrameBytes {
		return &FrameTooLargeError{n: n}
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame into v. A length over limit, or bytes that are not one JSON object
// of v's shape, is ErrFrame; the length is checked before anything is allocated.
func ReadFrame(r io.Reader, limit int, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(limit) {
		return fmt.Errorf("%w: frame length %d (limit %d)", ErrFrame, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrFrame, err)
	}
	return nil
}
