package main

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"
	"golang.org/x/term"
)

// newLogger builds the one logger of the process, on stderr: stdout is
// reserved for the ready line (and a child command's output). Output is
// batched (see logBuffer); call the returned close function before exit.
func newLogger(format, level string, stderr io.Writer) (*slog.Logger, func()) {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated by config
	if format == "auto" {
		format = "json"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	buf := newLogBuffer(stderr)
	var h slog.Handler
	if format == "text" {
		h = tint.NewHandler(buf, &tint.Options{Level: lv, TimeFormat: time.TimeOnly})
	} else {
		h = newFastJSON(buf, lv)
	}
	return slog.New(flushOnWarn{h, buf}), buf.Close
}
