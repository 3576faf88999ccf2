// Package runner runs commands on the execution host: locally (os/exec), through a command prefix
// such as "docker exec -i CONTAINER", over one persistent SSH connection, or by asking the parent
// process (the npm launcher) to run it with a Paperclip sandbox runner object (relay.go).
//
// Every implementation keeps secrets out of argv. The local runner passes Env through the process
// environment; the exec, SSH and relay runners send a constant bootstrap command and deliver the
// environment, working directory and script through stdin (see prelude.go), so neither the local
// nor the remote process list ever shows a value.
//
// No child inherits the sidecar's environment: local processes get an allowlisted minimum
// (ChildEnv, LocalAllowlist, ExecClientAllowlist) and no CLIPBRIDGE_* variable, and the SSH runner
// sends no environment requests, so a remote command sees its login environment plus Env.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// DefaultMaxOutputBytes bounds the captured stdout and stderr of Run, each, when
// Command.MaxOutputBytes is zero. It matches the 1 MiB buffer Paperclip's SSH runner uses.
const DefaultMaxOutputBytes = 1 << 20

// Command describes one command to run on the execution host.
type Command struct {
	// Args is the argv to run. Exactly one of Args and Script is set. Args must not hold secrets:
	// the local and exec runners show them in the local process list.
	Args []string
	// Script is a POSIX sh script. The local runner runs it as `sh -c Script`; the others send it
	// through stdin. Scripts must not embed secrets either; pass those in Env.
	Script string
	// Env adds variables to the command's environment. Keys must be valid shell names. Values may
	// be secret: no runner puts them in argv.
	Env map[string]string
	// Dir is the working directory; empty means the runner's default (the remote login
	// directory, or the current directory for local).
	Dir string
	// Stdin feeds the command's standard input for Run; nil means empty input. Start ignores it
	// and hands the caller a writer instead.
	Stdin io.Reader
	// Timeout bounds Run; zero means only the context bounds it. On expiry the command is killed
	// and Result.TimedOut is set.
	Timeout time.Duration
	// MaxOutputBytes bounds each captured stream of Run; zero means DefaultMaxOutputBytes.
	MaxOutputBytes int
}

// Result is the outcome of Run.
type Result struct {
	// ExitCode is the exit status, or -1 when the command was killed or gave no status.
	ExitCode int
	// Stdout and Stderr hold at most MaxOutputBytes each.
	Stdout, Stderr []byte
	// StdoutTruncated and StderrTruncated report output dropped past the bound.
	StdoutTruncated, StderrTruncated bool
	// TimedOut reports that Command.Timeout expired and the command was killed.
	TimedOut bool
}

// Err describes a failed result in Paperclip's runner error format (`<action> timed out` or
// `<action> failed with exit code <n>: <stderr or stdout>`), or returns nil on exit code 0.
func (r Result) Err(action string) error {
	detail := strings.TrimSpace(string(r.Stderr))
	if detail == "" {
		detail = strings.TrimSpace(string(r.Stdout))
	}
	// Bound the detail: it ends up in logs and in 503 bodies.
	if len(detail) > 512 {
		detail = detail[:512] + "…"
	}
	var msg string
	switch {
	case r.TimedOut:
		msg = action + " timed out"
	case r.ExitCode != 0:
		msg = fmt.Sprintf("%s failed with exit code %d", action, r.ExitCode)
	default:
		return nil
	}
	if detail != "" {
		msg += ": " + detail
	}
	return errors.New(msg)
}

// Process is a command started with Start; its streams are live.
type Process interface {
	// Stdin is the command's standard input; closing it sends EOF.
	Stdin() io.WriteCloser
	// Stdout and Stderr must be drained by the caller, or the command may block.
	Stdout() io.Reader
	Stderr() io.Reader
	// Wait waits for the command to end and returns its exit code (-1 when killed).
	Wait() (int, error)
	// Kill ends the command (and, where the runner can, its process group) without waiting.
	Kill() error
}

// Runner runs commands on one execution host.
type Runner interface {
	// Name is the runner kind: "local", "exec", "ssh" or "relay"; it labels metrics.
	Name() string
	// Run runs a command to completion with bounded output. A non-zero exit or a timeout is
	// reported in Result, not as an error; the error is for a command that could not run at all
	// (bad Command, connection failure, cancelled context).
	Run(ctx context.Context, c Command) (Result, error)
	// Start starts a long-lived command with streaming stdin/stdout/stderr. Cancelling ctx kills it.
	Start(ctx context.Context, c Command) (Process, error)
}

// ErrInvalidCommand reports a Command that cannot be run as given.
var ErrInvalidCommand = errors.New("invalid command")

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks the parts every runner relies on before anything is started.
func (c Command) validate() error {
	if (len(c.Args) == 0) == (c.Script == "") {
		return fmt.Errorf("%w: exactly one of args and script must be set", ErrInvalidCommand)
	}
	for k := range c.Env {
		if !envKeyRE.MatchString(k) {
			// The key is not secret; the value is never shown.
			return fmt.Errorf("%w: environment variable key %q", ErrInvalidCommand, k)
		}
	}
	return nil
}

func (c Command) maxOutput() int {
	if c.MaxOutputBytes > 0 {
		return c.MaxOutputBytes
	}
	return DefaultMaxOutputBytes
}
