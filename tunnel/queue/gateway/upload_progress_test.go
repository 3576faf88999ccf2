package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clipbridge/clipbridge/runner"
)

// slowRunner takes the upload's stdin at a fixed rate, as a slow link to
// a sandbox provider does, and gives up at the command's timeout the way
// runners report it (TimedOut, no error).
type slowRunner struct {
	chunk int           // bytes taken per tick
	tick  time.Duration // between chunks
}

func (slowRunner) Name() string { return "slow" }

func (s slowRunner) Run(ctx context.Context, c runner.Command) (runner.Result, error) {
	if c.Stdin == nil {
		return runner.Result{Stdout: []byte(":missing\n")}, nil
	}
	deadline := time.Now().Add(c.Timeout)
	buf := make([]byte, s.chunk)
	for time.Now().Before(deadline) {
		if _, err := io.ReadFull(c.Stdin, buf); err != nil {
			return runner.Result{Stdout: []byte(":uploaded\n")}, nil
		}
		time.Sleep(s.tick)
	}
	return runner.Result{ExitCode: -1, TimedOut: true}, nil
}

func (slowRunner) Start(context.Context, runner.Command) (runner.Process, error) {
	return nil, runner.ErrInvalidCommand
}

// A slow upload says how far it is while it runs, and one that cannot
// finish in time says how far it got and which setting to raise.
func TestUploadProgressAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		data := bytes.Repeat([]byte("x"), 1<<20) // 1 MiB at 64 KiB per second: 16 s
		r := slowRunner{chunk: 64 << 10, tick: time.Second}

		err := uploadBinary(t.Context(), r, bytes.NewReader(data), int64(len(data)), "sum", "/dst", time.Minute, log)
		if err != nil {
			t.Fatalf("upload within its limit: %v", err)
		}
		if n := strings.Count(logs.String(), "gateway binary upload progress"); n < 5 {
			t.Fatalf("%d progress lines for a 16 s upload, want one every 2 s:\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), "gateway binary uploaded") {
			t.Fatalf("no completion line:\n%s", logs.String())
		}

		err = uploadBinary(t.Context(), r, bytes.NewReader(data), int64(len(data)), "sum", "/dst", 5*time.Second, nil)
		if err == nil || !strings.Contains(err.Error(), "--gateway-upload-timeout") ||
			!strings.Contains(err.Error(), "of 1.0 MB sent") || !strings.Contains(err.Error(), "Mbit/s") {
			t.Fatalf("timed-out upload: %v", err)
		}
	})
}
