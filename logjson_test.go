package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/config"
)

// both logs r through fastJSON and through slog.JSONHandler, after the
// same WithAttrs and WithGroup calls, and returns the two outputs.
func both(r slog.Record, with func(slog.Handler) slog.Handler) (fast, slow string) {
	var fb, sb bytes.Buffer
	fh := with(newFastJSON(&fb, slog.LevelDebug))
	sh := with(slog.NewJSONHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_ = fh.Handle(context.Background(), r)
	_ = sh.Handle(context.Background(), r)
	return fb.String(), sb.String()
}

func TestFastJSONMatchesSlog(t *testing.T) {
	now := time.Date(2026, 11, 26, 1, 2, 3, 450000000, time.UTC)
	rec := func(level slog.Level, msg string, as ...slog.Attr) slog.Record {
		r := slog.NewRecord(now, level, msg, 0)
		r.AddAttrs(as...)
		return r
	}
	component := func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("component", "proxy")}) }
	same := func(h slog.Handler) slog.Handler { return h }
	access := rec(slog.LevelInfo, "request", slog.String("method", "GET"), slog.String("route", "^/api/agents/me$"),
		slog.Int("status", 200), slog.Int64("duration_us", 412), slog.Int64("bytes", 125))
	zeroTime := access
	zeroTime.Time = time.Time{}
	local := access
	local.Time = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 5*3600+1800))
	for _, tc := range []struct {
		name string
		r    slog.Record
		with func(slog.Handler) slog.Handler
	}{
		{"access log line", access, component},
		{"no attributes", rec(slog.LevelWarn, "tunnel connected"), same},
		{"every level", rec(slog.LevelError, "x", slog.Bool("ok", false), slog.Uint64("n", math.MaxUint64), slog.Int64("m", math.MinInt64)), same},
		{"debug", rec(slog.LevelDebug, "x"), component},
		{"custom level", rec(slog.LevelInfo+2, "x"), same},
		{"zero time", zeroTime, same},
		{"other zone, nanoseconds", local, component},
		{"quote in message", rec(slog.LevelInfo, `say "hi"`), same},
		{"html and unicode", rec(slog.LevelInfo, "<a&b> é \u2028", slog.String("k", "\x00\t")), same},
		{"escaped key", rec(slog.LevelInfo, "x", slog.String("a\"b", "v")), same},
		{"float", rec(slog.LevelInfo, "x", slog.Float64("f", 1.5)), same},
		{"duration", rec(slog.LevelInfo, "x", slog.Duration("d", time.Second)), same},
		{"error", rec(slog.LevelInfo, "x", slog.Any("error", errors.New("boom"))), same},
		{"secret", rec(slog.LevelInfo, "x", slog.Any("run_token", config.NewSecret("real-run-jwt"))), same},
		{"secret pre-attribute", access, func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Any("bridge_token", config.NewSecret("bridge-token"))})
		}},
		{"group attr", rec(slog.LevelInfo, "x", slog.Group("g", slog.Int("a", 1))), same},
		{"empty key", rec(slog.LevelInfo, "x", slog.Attr{}, slog.String("", "v"), slog.Int("a", 1)), same},
		{"with group", access, func(h slog.Handler) slog.Handler { return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}) }},
		{"escaping pre-attribute", access, func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("c", "a\nb")}).WithAttrs([]slog.Attr{slog.Int("d", 2)})
		}},
		{"nested WithAttrs", access, func(h slog.Handler) slog.Handler {
			return component(h).WithAttrs([]slog.Attr{slog.Int("worker", 3)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, slow := both(tc.r, tc.with)
			if fast != slow {
				t.Fatalf("fastJSON wrote\n%s\nslog.JSONHandler wrote\n%s", fast, slow)
			}
			if strings.Contains(fast, "real-run-jwt") || strings.Contains(fast, "bridge-token") {
				t.Fatalf("a secret reached the log: %s", fast)
			}
		})
	}
}

// The access log takes the fast path (slog's handler is never called)
// and costs no allocation.
func TestFastJSONAccessLineIsFast(t *testing.T) {
	h := newFastJSON(&discardWriter{}, slog.LevelInfo).WithAttrs([]slog.Attr{slog.String("component", "proxy")}).(*fastJSON)
	h.slow = nil // a call to it would panic
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", "GET"), slog.String("route", "^/api/agents/me$"),
		slog.Int("status", 200), slog.Int64("duration_us", 412), slog.Int64("bytes", 125))
	if n := testing.AllocsPerRun(100, func() { _ = h.Handle(context.Background(), r) }); n != 0 {
		t.Fatalf("%v allocations per access-log line", n)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func FuzzFastJSON(f *testing.F) {
	f.Add(int64(1764118923450000000), 0, "request", "route", "^/api/agents/me$", int64(200), true, "component", "proxy")
	f.Add(int64(0), 4, `a"b`, "k\n", "\u2028", int64(-1), false, "", "")
	f.Fuzz(func(t *testing.T, unixNano int64, level int, msg, key, s string, n int64, ok bool, preKey, preVal string) {
		r := slog.NewRecord(time.Unix(0, unixNano).UTC(), slog.Level(level), msg, 0)
		r.AddAttrs(slog.String(key, s), slog.Int64(key+"n", n), slog.Bool("ok", ok))
		fast, slow := both(r, func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String(preKey, preVal)})
		})
		if fast != slow {
			t.Fatalf("fastJSON wrote\n%s\nslog.JSONHandler wrote\n%s", fast, slow)
		}
	})
}
