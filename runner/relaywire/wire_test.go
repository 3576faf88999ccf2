package relaywire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	code := 3
	in := Reply{ID: 7, ExitCode: &code, Stdout: "<a&b>\n\x00", TimedOut: true}
	if err := WriteFrame(&buf, in); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`\u003c`)) {
		t.Error("HTML escaping grows frames")
	}
	var out Reply
	if err := ReadFrame(&buf, MaxFrameBytes, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != 7 || *out.ExitCode != 3 || out.Stdout != in.Stdout || !out.TimedOut {
		t.Fatalf("got %+v", out)
	}
	if err := ReadFrame(&buf, MaxFrameBytes, &out); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"over the limit": {binary.BigEndian.AppendUint32(nil, 11), ErrFrame},
		"zero":           {binary.BigEndian.AppendUint32(nil, 0), ErrFrame},
		"not json":       {append(binary.BigEndian.AppendUint32(nil, 3), "abc"...), ErrFrame},
		"cut":            {append(binary.BigEndian.AppendUint32(nil, 9), "{}"...), io.ErrUnexpectedEOF},
		"short header":   {[]byte{0, 0}, io.ErrUnexpectedEOF},
	} {
		var r Reply
		if err := ReadFrame(bytes.NewReader(tc.b), 10, &r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestWriteFrameLimit(t *testing.T) {
	var buf bytes.Buffer
	err := WriteFrame(&buf, Request{Stdin: strings.Repeat("x", MaxFrameBytes)})
	if _, ok := errors.AsType[*FrameTooLargeError](err); !ok || buf.Len() != 0 {
		t.Fatalf("got %v with %d bytes written", err, buf.Len())
	}
}

// FuzzReadFrame: whatever the parent sends, ReadFrame returns (no panic, no allocation past
// the limit).
func FuzzReadFrame(f *testing.F) {
	f.Add(append(binary.BigEndian.AppendUint32(nil, 2), "{}"...))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 16), `{"exitCode":"0"}`...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reply
		_ = ReadFrame(bytes.NewReader(b), 1<<16, &r)
	})
}
