package sshtunnel

import (
	"bytes"
	"strings"
	"testing"
)

var probeCases = []struct {
	out  string
	want remoteProcess
	ok   bool
}{
	{"3665 123456\n", remoteProcess{PID: 3665, StartTime: "123456"}, true},
	{"3665 \n", remoteProcess{PID: 3665}, true},
	{"3665\n", remoteProcess{PID: 3665}, true},
	{"1 5\n", remoteProcess{}, false},
	{"0\n", remoteProcess{}, false},
	{"-4 5\n", remoteProcess{}, false},
	{"", remoteProcess{}, false},
	{"abc\n", remoteProcess{}, false},
	{"12 x'; rm -rf /\n", remoteProcess{}, false},
	{"12 34 56\n", remoteProcess{}, false},
	{"Welcome to host!\n3665 99\n", remoteProcess{PID: 3665, StartTime: "99"}, true},
}

func TestParseProbe(t *testing.T) {
	for _, tc := range probeCases {
		got, err := parseProbe(tc.out)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseProbe(%q) = %+v, %v; want %+v ok=%v", tc.out, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseProbe: whatever the remote prints, an accepted result is safe to
// splice into killScript (a pid above 1 and a digits-only start time).
func FuzzParseProbe(f *testing.F) {
	for _, tc := range probeCases {
		f.Add(tc.out)
	}
	f.Fuzz(func(t *testing.T, out string) {
		p, err := parseProbe(out)
		if err != nil {
			return
		}
		if p.PID <= 1 || strings.Trim(p.StartTime, "0123456789") != "" {
			t.Fatalf("unsafe probe result %+v from %q", p, out)
		}
	})
}

var markerCases = []struct {
	name   string
	chunks []string
	out    string
	pid    int64
}{
	{"marker first", []string{"clipbridge-run-pid=42\nhello\n"}, "hello\n", 42},
	{"split across writes", []string{"clipbridge-run", "-pid=4", "2\nhel", "lo"}, "hello", 42},
	{"profile noise before the marker", []string{"motd line\nclipbridge-run-pid=7\nout"}, "motd line\nout", 7},
	{"no marker", []string{"just output\n", "more"}, "just output\nmore", 0},
	{"marker only once", []string{"clipbridge-run-pid=9\nclipbridge-run-pid=10\n"}, "clipbridge-run-pid=10\n", 9},
	{"bad pid passes through", []string{"clipbridge-run-pid=x\nok\n"}, "clipbridge-run-pid=x\nok\n", 0},
	{"crlf", []string{"clipbridge-run-pid=5\r\nok"}, "ok", 5},
}

func TestMarkerWriter(t *testing.T) {
	for _, tc := range markerCases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &markerWriter{dst: &out}
			for _, c := range tc.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			_ = w.finish()
			if out.String() != tc.out || w.pid.Load() != tc.pid {
				t.Errorf("out %q pid %d; want %q pid %d", out.String(), w.pid.Load(), tc.out, tc.pid)
			}
		})
	}
}

// FuzzMarkerWriter: output without a marker line passes through intact,
// however it is split into writes, and with one the marker alone is removed.
func FuzzMarkerWriter(f *testing.F) {
	for _, tc := range markerCases {
		f.Add(strings.Join(tc.chunks, ""), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data string, split uint8) {
		var out bytes.Buffer
		w := &markerWriter{dst: &out}
		step := int(split%16) + 1
		for i := 0; i < len(data); i += step {
			_, _ = w.Write([]byte(data[i:min(i+step, len(data))]))
		}
		_ = w.finish()
		got := out.String()
		if w.pid.Load() == 0 {
			if got != data {
				t.Fatalf("output changed without a marker: %q -> %q", data, got)
			}
			return
		}
		if len(got) >= len(data) || !strings.Contains(data, pidMarker) {
			t.Fatalf("marker found but not removed: %q -> %q", data, got)
		}
	})
}
