package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// fastJSON is slog's JSON handler with a fast path for the common record:
// the access log writes one per request, and under load slog's general
// encoder (kind dispatch, key and value escaping through its handle
// state) was the largest single cost in the bridge after the kernel.
// Records made only of standard levels and of strings that need no
// escaping, integers and booleans are encoded here, byte for byte as
// slog.JSONHandler encodes them (TestFastJSONMatchesSlog and
// FuzzFastJSON compare the two); anything else (floats, durations,
// errors, groups, escaping) goes to slog.JSONHandler itself.
type fastJSON struct {
	slow   slog.Handler // slog.JSONHandler over w, with the same attributes
	w      io.Writer    // takes each line in one Write (logBuffer)
	level  slog.Leveler
	prefix []byte // the WithAttrs attributes, encoded: `,"component":"proxy"`
	fast   bool   // false once an attribute or a group needs slog
}

func newFastJSON(w io.Writer, level slog.Leveler) *fastJSON {
	return &fastJSON{slow: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), w: w, level: level, fast: true}
}

func (h *fastJSON) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// linePool holds line buffers; one grown past maxPooledLine by a long
// record is not kept, so the pool stays small.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledLine = 16 << 10

func (h *fastJSON) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast {
		return h.slow.Handle(ctx, r)
	}
	bp := linePool.Get().(*[]byte)
	defer linePool.Put(bp)
	b, ok := appendFastRecord((*bp)[:0], r, h.prefix)
	if cap(b) <= maxPooledLine {
		*bp = b[:0] // keep the grown buffer; an outsized one is dropped
	}
	if !ok {
		return h.slow.Handle(ctx, r)
	}
	_, err := h.w.Write(b)
	return err
}

func (h *fastJSON) WithAttrs(as []slog.Attr) slog.Handler {
	n := &fastJSON{slow: h.slow.WithAttrs(as), w: h.w, level: h.level, fast: h.fast}
	if n.fast {
		n.prefix, n.fast = appendFastAttrs(append([]byte(nil), h.prefix...), as)
	}
	return n
}

func (h *fastJSON) WithGroup(name string) slog.Handler {
	return &fastJSON{slow: h.slow.WithGroup(name), w: h.w, level: h.level}
}

// appendFastRecord encodes r as slog.JSONHandler would, or reports false
// if it cannot do so byte for byte.
func appendFastRecord(b []byte, r slog.Record, prefix []byte) ([]byte, bool) {
	if y := r.Time.Year(); r.Time.IsZero() || y < 0 || y > 9999 {
		return b, false
	}
	var level string
	switch r.Level {
	case slog.LevelDebug:
		level = "DEBUG"
	case slog.LevelInfo:
		level = "INFO"
	case slog.LevelWarn:
		level = "WARN"
	case slog.LevelError:
		level = "ERROR"
	default:
		return b, false
	}
	if !plainJSON(r.Message) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":"`...)
	b = append(b, r.Message...)
	b = append(b, '"')
	b = append(b, prefix...)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendFastAttr(b, a)
		return ok
	})
	return append(b, "}\n"...), ok
}

func appendFastAttrs(b []byte, as []slog.Attr) ([]byte, bool) {
	ok := true
	for _, a := range as {
		if b, ok = appendFastAttr(b, a); !ok {
			break
		}
	}
	return b, ok
}

// appendFastAttr encodes one attribute with its leading comma. Empty
// keys are left to slog, which drops or inlines them.
func appendFastAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" || !plainJSON(a.Key) {
		return b, false
	}
	b = append(b, `,"`...)
	b = append(b, a.Key...)
	b = append(b, `":`...)
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		s := v.String()
		if !plainJSON(s) {
			return b, false
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	default:
		return b, false
	}
	return b, true
}

// plainJSON reports a string that JSON carries as is: printable ASCII
// without quote or backslash.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
