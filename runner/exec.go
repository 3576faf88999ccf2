package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// ExecOptions configures NewExec.
type ExecOptions struct {
	// Prefix is the argv that reaches the execution host, e.g. {"docker", "exec", "-i", "C"} or
	// {"kubectl", "exec", "-i", "POD", "--"}; ParsePrefix builds it from a string. It must keep
	// stdin open for the command (`-i`), because the command's env and script travel there.
	Prefix []string
	// StringCommand says the prefix takes its command as one shell string that the far side
	// parses again, as `ssh HOST` does, rather than as argv words (docker, kubectl). The
	// bootstrap is then passed as the single word `sh -c '<bootstrap>'`. It is implied when the
	// prefix's program is ssh.
	StringCommand bool
	// PassEnv names more variables the local prefix process may inherit, on top of
	// ExecClientAllowlist, for clients that need them (a kubectl credential plugin's AWS_PROFILE,
	// say); an entry ending in "*" is a prefix. CLIPBRIDGE_* variables never pass.
	PassEnv []string
	// OneShot is for prefixes whose stdin cannot stream (a provider CLI that reads the whole of
	// stdin before it starts the command, or returns output only at the end): Start then
	// returns ErrOneShot, and the queue worker uses its one-shot design, at most one exec per
	// call, instead of a long-lived co-process.
	OneShot bool
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Registerer receives clipbridge_runner_execs_total; nil registers nothing.
	Registerer prometheus.Registerer
}

// Exec runs commands through a local command prefix such as `docker exec -i CONTAINER`. The
// prefix is followed only by the constant bootstrap (`sh -c <bootstrap>`); env, cwd and script go
// through stdin, so `ps` on either side shows no values.
//
// The prefix process itself inherits only its client settings (ExecClientAllowlist plus
// ExecOptions.PassEnv), never the sidecar's secrets or the command's Env.
//
// A timeout kills the local prefix process (e.g. the docker client). Whether that also ends the
// command inside the container depends on the tool; docker and kubectl end it once its stdin closes
// for commands that read stdin, which the bootstrap does.
type Exec struct {
	prefix []string
	str    bool
	once   bool
	allow  []string // what the local prefix process inherits from us
	execs  prometheus.Counter
}

var _ Runner = (*Exec)(nil)

// NewExec returns an exec-prefix runner.
func NewExec(opts ExecOptions) (*Exec, error) {
	if len(opts.Prefix) == 0 || opts.Prefix[0] == "" {
		return nil, fmt.Errorf("%w: empty exec prefix", ErrInvalidCommand)
	}
	str := opts.StringCommand || path.Base(opts.Prefix[0]) == "ssh"
	return &Exec{prefix: append([]string(nil), opts.Prefix...), str: str, once: opts.OneShot,
		allow: slices.Concat(ExecClientAllowlist, opts.PassEnv), execs: execCounter(opts.Registerer, "exec")}, nil
}

// Name implements Runner.
func (*Exec) Name() string { return "exec" }

// command is the local prefix process. It inherits only its client settings (e.allow): the
// command on the execution host gets c.Env through the prelude on stdin, never from here.
func (e *Exec) command() osCommand {
	argv := append(append([]string(nil), e.prefix...), bootstrapArgv...)
	if e.str {
		argv = append(append([]string(nil), e.prefix...), remoteCommand)
	}
	return osCommand{argv: argv, env: ChildEnv(os.Environ(), e.allow, nil)}
}

// Run implements Runner.
func (e *Exec) Run(ctx context.Context, c Command) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	e.execs.Inc()
	cmd := e.command()
	cmd.stdin = preludeReader(c, c.Stdin)
	return cmd.run(ctx, c)
}

// OneShot implements OneShot: true when ExecOptions.OneShot was set.
func (e *Exec) OneShot() bool { return e.once }

// Start implements Runner.
func (e *Exec) Start(ctx context.Context, c Command) (Process, error) {
	if e.once {
		return nil, ErrOneShot
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	e.execs.Inc()
	return e.command().start(ctx, prelude(c))
}
