package queuetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// Program is the shape of a queue_v1 program's entry point: gateway.Run and agent.Run.
type Program func(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// Main is a TestMain for packages whose tests launch their own test binary on the "execution
// host" (through a runner) as `<bin> gateway` or `<bin> queue-agent [--once]`: when its
// arguments name one of programs ("queue-agent --once" is a name of its own), the binary runs it
// and exits; otherwise it runs the tests under goleak.
func Main(m *testing.M, programs map[string]Program) {
	if len(os.Args) > 1 {
		name := os.Args[1]
		if len(os.Args) > 2 {
			name += " " + os.Args[2]
		}
		if run, ok := programs[name]; ok {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			err := run(ctx, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
			stop()
			code := 0
			if err != nil {
				fmt.Fprintf(os.Stderr, "clipbridge %s: %v\n", name, err)
				code = 1
			}
			// syscall.Exit, not os.Exit: under -race, os.Exit waits a second for the race
			// detector's report, and the one-shot tests exec this binary once per call.
			syscall.Exit(code)
		}
	}
	goleak.VerifyTestMain(m)
}
