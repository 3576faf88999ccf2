// Package cli is clipbridge's commands and their wiring: it parses a
// command line, builds the pieces each command needs (config, logger,
// metrics, the callback handler, a transport) and runs them until the
// context ends. main only hands it the process's environment.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/clipbridge/clipbridge/config"
)

// Exit statuses: 0 after a clean shutdown, 1 on a runtime failure, 2 on a
// usage or configuration error.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Run is the whole program with its environment injected, so tests can
// drive it in-process: it returns the exit status. b is what the build
// stamped (main's -X flags).
func Run(ctx context.Context, b Build, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		if code, ok := noArguments("version", rest, "Usage: clipbridge version\n\nPrints the version, Go version and commit.\n", stdout, stderr); !ok {
			return code
		}
		writeVersion(stdout, b)
		return exitOK
	case "help", "-h", "--help":
		writeUsage(stdout)
		return exitOK
	case "health":
		return runHealth(ctx, rest, getenv, stdout, stderr)
	case "status":
		return runStatus(ctx, rest, getenv, stdout, stderr)
	case "standin":
		return runStandin(ctx, rest, getenv, stdout, stderr)
	case "gateway":
		return runGateway(ctx, rest, getenv, stdout, stderr)
	case "queue-agent":
		return runQueueAgent(ctx, rest, getenv, stdout, stderr)
	case "serve", "demo", "check":
	default:
		fmt.Fprintf(stderr, "clipbridge: unknown command %q\n", cmd)
		writeUsage(stderr)
		return exitUsage
	}
	cfg, err := config.Load(cmd, rest, getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.Help(stdout, cmd)
		return exitOK
	}
	if err != nil {
		format := "auto"
		if cfg != nil {
			format = cfg.LogFormat
		}
		if cmd == "check" {
			return reportFatal(stderr, format, "", err)
		}
		return reportStartup(stdout, stderr, format, failedAs(codeConfig, err))
	}
	switch cmd {
	case "demo":
		return runDemo(ctx, cfg, b, stdout, stderr)
	case "check":
		return runCheck(ctx, cfg, b, getenv, stdout, stderr)
	default:
		return runServe(ctx, cfg, b, getenv, stdout, stderr)
	}
}

func writeUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: clipbridge <command> [settings]

Commands:
  serve     run the sidecar: serve the callback API and forward to Paperclip
  demo      run the sidecar against a built-in stand-in control plane
  check     preflight: the same settings as serve; checks each step and says how to fix it
  health    probe a running sidecar's admin /readyz (for container health checks)
  status    show what a running sidecar is doing (its admin /status)
  standin   serve the demo's stand-in Paperclip API on its own
  gateway   run the queue_v1 or http2_v1 gateway in the sandbox (Paperclip's, without Node)
  queue-agent
            in the sandbox, started by the host worker: the queue's file operations, with inotify
  version   print the version, Go version and commit

Run "clipbridge <command> --help" for the settings of a command.
`)
}
