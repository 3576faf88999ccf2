package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// The access log is one JSON line per request with a fixed set of
// fields: the route pattern (never the raw path), an integer duration in
// microseconds, the refusal reason when the bridge refused, and no source
// location even when the handler would print one.
func TestAccessLogLine(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	logs := &testsupport.LockedBuffer{}
	b := newBridge(t, up.URL, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{AddSource: true}))
	})
	b.do(t, "GET", "/api/issues/issue-77?view=compact", nil, nil)
	b.do(t, "GET", "/api/secrets", nil, nil)

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 access-log lines, got %d:\n%s", len(lines), logs.String())
	}
	for i, want := range []map[string]any{
		{"method": "GET", "route": "^/api/issues/[^/]+$", "status": json.Number("200"), "component": "proxy"},
		{"method": "GET", "route": routeNone, "status": json.Number("403"), "reason": reasonRouteDenied},
	} {
		got := lines[i]
		for k, v := range want {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
		d, ok := got["duration_us"].(json.Number)
		if _, err := d.Int64(); !ok || err != nil {
			t.Errorf("line %d: duration_us = %v, want an integer", i, got["duration_us"])
		}
		if _, ok := got["source"]; ok {
			t.Errorf("line %d has a source location: %v", i, got["source"])
		}
		if _, ok := got["time"]; !ok {
			t.Errorf("line %d has no time", i)
		}
	}
	if strings.Contains(logs.String(), "issue-77") || strings.Contains(logs.String(), "compact") {
		t.Error("the raw path or query reached the access log")
	}
}
