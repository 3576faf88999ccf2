// Package logging builds the sidecar's one logger: log/slog, with tint's
// colour handler on a terminal and slog's own JSON handler otherwise.
//
// Every record is one write to stderr as it happens. The previous
// hand-written encoder and its batching buffer saved a few microseconds
// per access-log line under a benchmark's load; an agent makes a few calls
// a minute, and a batch can lose lines on a crash, which costs an
// operator far more.
package logging

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"
	"golang.org/x/term"
)

// New returns the logger for format ("json", "text" or "auto": text on
// a terminal, JSON otherwise) and level ("debug", "info", "warn",
// "error"), writing to w, which is stderr: stdout is reserved for the
// ready line and a child command's output. Config has validated both.
func New(format, level string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(tint.NewHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}
