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
// reserved for the ready line (and a child command's output).
func newLogger(format, level string, stderr io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated by config
	if format == "auto" {
		format = "json"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(tint.NewHandler(stderr, &tint.Options{Level: lv, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
}
